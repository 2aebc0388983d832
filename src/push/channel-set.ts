import type { ChannelLog, Subscriber } from './channel-log.js';
import type { PushMessage } from './message.js';
import { PushMetrics, type TechniqueMetrics } from './push-metrics.js';

/** Series nobody renders, for sets counted nowhere (in-process subscribers). */
const UNCOUNTED: TechniqueMetrics = new PushMetrics().poll;

/** docs/PROTOCOL.md §3.11: a subscription names 1 to 100 channels. */
export const MAX_CHANNELS = 100;

/** One channel of a subscription, and how far its client has got in it. */
export class Cursor {
  constructor(
    readonly channel: string,
    /** The last id sent on this channel (or the gap's L): later deliveries continue from here. */
    public last: number,
    /** Messages go out as tagged objects (with their channel): docs/PROTOCOL.md §3.11. */
    readonly tagged: boolean,
  ) {}
}

/** Where a ChannelSet sends what passes its cursors: one technique's connection. */
export interface ChannelSink {
  /** A message past its channel's cursor; the cursor is already on it. */
  message(message: PushMessage, cursor: Cursor): void;
  /** Messages after the cursor may be gone; the cursor is now on the channel's last id. */
  gap(cursor: Cursor): void;
}

/** A channel to add, and the last id the client has of it. */
export interface ChannelRequest {
  readonly channel: string;
  readonly since: number;
}

/**
 * The channels of one connection, each with its cursor, subscribed to the
 * log as one Subscriber: every message of those channels passes here once,
 * and goes on to the sink if it is past its channel's cursor. Every
 * technique builds on it, so "each channel in id order, exactly once" is
 * kept in one place.
 */
export class ChannelSet implements Subscriber {
  private readonly cursors = new Map<string, Cursor>();
  private closed = false;

  constructor(
    private readonly log: ChannelLog,
    private readonly sink: ChannelSink,
    /** Where deliveries and subscriptions of this set are counted (docs/PROTOCOL.md §6.2). */
    private readonly metrics: TechniqueMetrics = UNCOUNTED,
  ) {}

  get size(): number { return this.cursors.size; }

  has(channel: string): boolean { return this.cursors.has(channel); }

  /** The cursors, in the order the channels were added. */
  list(): IterableIterator<Cursor> { return this.cursors.values(); }

  /**
   * Adds channels: a gap notice for each channel whose cursor cannot be
   * served, then what the log retains past the cursors (merged in publish
   * order), then live messages. All synchronous, so nothing published in
   * between can slip past. Channels already in the set are left as they are.
   */
  add(requests: readonly ChannelRequest[], tagged: boolean): void {
    if (this.closed) return;
    let backlog: PushMessage[] | null = null;
    let sources = 0;
    const added: Cursor[] = [];
    for (const { channel, since } of requests) {
      if (this.cursors.has(channel)) continue;
      const read = this.log.read(channel, since);
      const cursor = new Cursor(channel, since, tagged);
      this.cursors.set(channel, cursor);
      this.log.subscribe(channel, this);
      this.metrics.subscriptions.value++;
      this.metrics.subscribed.value++;
      if (read.gap) {
        cursor.last = read.last;
        added.push(cursor);
      } else if (read.messages.length > 0) {
        backlog = backlog === null ? (read.messages as PushMessage[]) : backlog.concat(read.messages);
        sources++;
      }
    }
    for (const cursor of added) {
      if (this.closed) return;
      this.sink.gap(cursor);
    }
    if (backlog === null) return;
    if (sources > 1) backlog.sort(byOrder);
    for (const message of backlog) {
      if (this.closed) return;
      this.deliver(message);
    }
  }

  /** Drops a channel; false if it was not in the set. */
  remove(channel: string): boolean {
    if (!this.cursors.delete(channel)) return false;
    this.log.unsubscribe(channel, this);
    this.metrics.subscriptions.value--;
    return true;
  }

  deliver(message: PushMessage): void {
    const cursor = this.cursors.get(message.channel);
    if (cursor === undefined || message.id <= cursor.last) return;
    cursor.last = message.id;
    this.metrics.delivered.value++;
    this.sink.message(message, cursor);
  }

  /** Unsubscribes every channel; nothing more reaches the sink. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const channel of this.cursors.keys()) this.log.unsubscribe(channel, this);
    this.metrics.subscriptions.value -= this.cursors.size;
    this.cursors.clear();
  }

  /** `NAME@N,NAME@N,...` of every channel: the SSE id of docs/PROTOCOL.md §3.11. */
  compoundCursor(): string {
    let text = '';
    for (const cursor of this.cursors.values()) text += (text === '' ? '' : ',') + cursor.channel + '@' + cursor.last;
    return text;
  }
}

function byOrder(a: PushMessage, b: PushMessage): number {
  return a.order - b.order;
}
