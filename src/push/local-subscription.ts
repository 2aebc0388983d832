import type { AsyncChannelLog } from './log.js';
import { ChannelSet, MAX_CHANNELS, type ChannelSink, type Cursor } from './channel-set.js';
import { CHANNEL_NAME, gapMessage, type PushMessage } from './message.js';

/** Channels to start with: names (only new messages), or names with the last id already seen (null: none). */
export type ChannelList = string | readonly string[] | Readonly<Record<string, number | null>>;

/**
 * An in-process subscriber of several channels, in the manner of a
 * `channels=` connection (docs/PROTOCOL.md §3.11) but with no wire: a bridge to
 * another protocol, a cache, a test. Each channel's messages arrive in id
 * order, exactly once; a channel whose cursor cannot be served gets a
 * `push:gap` message (id L, the channel's last id) first.
 */
export interface ChannelSubscription {
  /**
   * Adds a channel: what is retained after `since`, then live messages.
   * Without since: only new ones. Ignored if already there. Resolves once the
   * backlog is delivered; rejects (and the channel is dropped) when a shared
   * log cannot be read.
   */
  add(channel: string, since?: number | null): Promise<void>;
  /** Drops a channel; false if it was not subscribed. */
  remove(channel: string): boolean;
  /** Each channel's cursor: the last id delivered (or the gap's L). */
  cursors(): Record<string, number>;
  /** Drops every channel; nothing more is delivered. */
  close(): void;
  readonly closed: boolean;
  /** Resolves once the first channels' backlog is delivered; rejects when a shared log could not be read (they are then dropped). */
  readonly ready: Promise<void>;
}

export class LocalSubscription implements ChannelSubscription, ChannelSink {
  private readonly set: ChannelSet;
  closed = false;
  ready: Promise<void> = Promise.resolve();

  constructor(
    log: AsyncChannelLog,
    private readonly onMessage: (message: PushMessage) => void,
    private readonly onClose: (sub: LocalSubscription) => void,
  ) {
    this.set = new ChannelSet(log, this);
  }

  /** Adds a list of channels in one go: their backlogs merged in publish order. */
  addAll(list: ChannelList): Promise<void> {
    const entries: Array<[string, number | null | undefined]> =
      typeof list === 'string' ? [[list, null]]
        : Array.isArray(list) ? (list as readonly string[]).map((c) => [c, null])
          : Object.entries(list as Record<string, number | null>);
    if (entries.length > MAX_CHANNELS) throw new RangeError(`at most ${MAX_CHANNELS} channels per subscription`);
    const requests = entries.map(([channel, since]) => ({ channel: checkChannel(channel), since: this.cursorOf(channel, since) }));
    return this.set.add(requests, true);
  }

  add(channel: string, since?: number | null): Promise<void> {
    if (this.closed) throw new Error('the subscription is closed');
    checkChannel(channel);
    if (!this.set.has(channel) && this.set.size >= MAX_CHANNELS) throw new RangeError(`at most ${MAX_CHANNELS} channels per subscription`);
    const added = this.set.add([{ channel, since: this.cursorOf(channel, since) }], true);
    // A caller that does not wait for it must not get an unhandled rejection.
    added.catch(ignore);
    return added;
  }

  remove(channel: string): boolean {
    return this.set.remove(channel);
  }

  cursors(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const cursor of this.set.list()) out[cursor.channel] = cursor.last;
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.set.close();
    this.onClose(this);
  }

  message(message: PushMessage): void {
    this.onMessage(message);
  }

  gap(cursor: Cursor): void {
    this.onMessage(gapMessage(cursor.channel, cursor.last));
  }

  private cursorOf(channel: string, since: number | null | undefined): number | null {
    if (since === undefined || since === null) return null;
    if (!Number.isSafeInteger(since) || since < 0) throw new TypeError(`since of ${channel} must be a non-negative integer`);
    return since;
  }
}

function checkChannel(channel: unknown): string {
  if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) throw new TypeError(`bad channel name: ${String(channel)}`);
  return channel;
}

function ignore(): void {}
