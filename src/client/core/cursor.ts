/**
 * Cursors, the one place that says what an id means (docs/PROTOCOL.md §4.6).
 * A connection carries each channel from a position: the last id it
 * delivered. A listener (a subscription, or another window's, relayed) has
 * its own: the last id it took. A message comes with the connection's
 * position before it, and a listener takes it only if it follows on from
 * there, and only once.
 */
import { GAP, type Cursors, type Message } from './types.js';

/**
 * Where one connection stands on each of its channels, and which it has asked
 * to go back to an older cursor (in band) whose replay has not begun.
 */
export class ConnectionCursors {
  readonly carried: Cursors;
  readonly rewinding: Cursors = new Map();

  constructor(from: Cursors) {
    this.carried = from;
  }

  /**
   * `m` arrived on this connection: the position before it (undefined for a
   * gap), or null if the connection does not carry its channel (dropped meanwhile).
   */
  step(m: Message): number | undefined | null {
    let at = this.carried.get(m.channel);
    if (at === undefined) return null;
    if (m.event === GAP) {
      this.carried.set(m.channel, m.id);
      this.rewinding.delete(m.channel);
      return undefined;
    }
    // An id at or below the position: the replay from an older cursor has begun.
    if (m.id <= at) {
      at = m.id - 1;
      this.rewinding.delete(m.channel);
    }
    this.carried.set(m.channel, m.id);
    return at;
  }

  /** Whether a listener from `since` needs this connection to (re)subscribe the channel from there. */
  needs(channel: string, since: number): boolean {
    const at = this.carried.get(channel);
    return at === undefined || since < Math.min(at, this.rewinding.get(channel) ?? at);
  }

  /** The channel was (re)subscribed in band from `since`. */
  subscribed(channel: string, since: number): void {
    // A channel carried already goes back: what comes until the replay is the old subscription's.
    if (this.carried.has(channel)) this.rewinding.set(channel, since);
    else this.carried.set(channel, since);
  }

  dropped(channel: string): void {
    this.carried.delete(channel);
    this.rewinding.delete(channel);
  }
}

/** A listener at `cursor` takes a message with position `before` only if nothing lies between them. */
export function follows(cursor: number, before: number | undefined): boolean {
  return before === undefined || cursor >= before;
}

/** Not already taken: never twice, whether re-opened, replaced, relayed or covered by a reloaded state. */
export function isNew(last: number | null, m: Message): boolean {
  return m.event === GAP || last === null || m.id > last;
}

/** The lowest cursor of a channel's listeners: the connection opens from it. */
export function lowest(cursors: Iterable<number>): number {
  let low = Infinity;
  for (const c of cursors) if (c < low) low = c;
  return low;
}

/** A listener's cursor counting what it holds while a gap reloads the state. */
export function position(last: number | null, held: readonly Message[] | null): number {
  let at = last ?? 0;
  if (held) for (const m of held) if (m.event !== GAP && m.id > at) at = m.id;
  return at;
}

/** `a@12,b@7`: the channels and cursors of a request (docs/PROTOCOL.md §3.11). */
export function formatChannels(channels: Cursors): string {
  let spec = '';
  for (const [channel, since] of channels) spec += (spec ? ',' : '') + encodeURIComponent(channel) + '@' + since;
  return spec;
}
