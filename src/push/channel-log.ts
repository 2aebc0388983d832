import { IdSequence } from './id-sequence.js';
import { PushMessage } from './message.js';

/** Something that wants every message published on a channel, as it is published. */
export interface Subscriber {
  /** Called synchronously by publish, once per message, in id order. Must not throw. */
  deliver(message: PushMessage): void;
  /**
   * Some messages of `channel` up to `last` are gone before they could be
   * delivered; delivery continues after `last` (the streaming techniques'
   * `push:gap`). `follow` calls it for a cursor the log cannot serve; a shared
   * log calls it when it lost more than its retention while this server could
   * not reach it. Optional: without it the ids just jump.
   */
  deliverGap?(channel: string, last: number): void;
}

/** "Everything after id N" of a channel. */
export interface ReadResult {
  /** Retained messages with id > since, oldest first. */
  readonly messages: readonly PushMessage[];
  /** The channel's latest id (0 if it never had a message). */
  readonly last: number;
  /** Some message above `since` may be gone, or `since` is above `last`: the client must reload state. */
  readonly gap: boolean;
}

/**
 * The channel log: ids, retention, reading by cursor, and live delivery. The
 * push techniques use nothing else, so a log shared between server processes
 * (Redis streams and pub/sub) can take the in-memory one's place.
 */
export interface ChannelLog {
  /** Appends a message (data already JSON) and delivers it to the channel's subscribers. */
  publish(channel: string, event: string, dataJson: string): PushMessage;
  read(channel: string, since: number): ReadResult;
  last(channel: string): number;
  subscribe(channel: string, subscriber: Subscriber): void;
  unsubscribe(channel: string, subscriber: Subscriber): void;
  /** Subscribers across all channels (of this process). */
  readonly subscriptionCount: number;
  /** Channels held in memory. */
  readonly channelCount: number;
  /** Whether the channel is held now (the channel limit of docs/PROTOCOL.md §6.1 counts only new ones). */
  hasChannel?(channel: string): boolean;
}

export interface MemoryLogOptions {
  /** Messages kept per channel (docs/PROTOCOL.md §3.2: at least 1000). */
  retention?: number;
  /** Where ids are reserved durably; null keeps them in memory only. */
  sequence?: IdSequence;
}

/**
 * One channel: a ring of its last `retention` messages and its subscribers.
 * The ring grows as messages come (an empty channel costs a few hundred
 * bytes, not `retention` slots) and wraps once full.
 */
class Channel {
  readonly ring: PushMessage[] = [];
  /** Ring index of the oldest retained message (0 until the ring is full). */
  start = 0;
  count = 0;
  readonly subscribers = new Set<Subscriber>();

  constructor(private readonly retention: number) {}

  append(message: PushMessage): void {
    const size = this.ring.length;
    if (size < this.retention) {
      this.ring.push(message);
      this.count++;
    } else {
      this.ring[this.start] = message;
      this.start = (this.start + 1) % size;
    }
  }

  /** The retained messages from the k-th oldest on. */
  from(k: number): PushMessage[] {
    const out = new Array<PushMessage>(this.count - k);
    const size = this.ring.length;
    for (let i = k; i < this.count; i++) out[i - k] = this.ring[(this.start + i) % size]!;
    return out;
  }
}

const NONE: readonly PushMessage[] = Object.freeze([]);

/** The channel log of one process, in memory; ids come from an IdSequence. */
export class MemoryChannelLog implements ChannelLog {
  private readonly channels = new Map<string, Channel>();
  private readonly retention: number;
  private readonly sequence: IdSequence;
  private subscribers = 0;

  constructor(options: MemoryLogOptions = {}) {
    const retention = options.retention ?? 1000;
    if (!Number.isSafeInteger(retention) || retention < 1) throw new RangeError('retention must be a positive integer');
    this.retention = retention;
    this.sequence = options.sequence ?? new IdSequence(null);
  }

  get subscriptionCount(): number { return this.subscribers; }
  get channelCount(): number { return this.channels.size; }
  hasChannel(channel: string): boolean { return this.channels.has(channel); }

  publish(channel: string, event: string, dataJson: string): PushMessage {
    const message = new PushMessage(channel, this.sequence.next(channel), event, dataJson);
    const ch = this.channel(channel);
    ch.append(message);
    for (const subscriber of ch.subscribers) {
      try {
        subscriber.deliver(message);
      } catch (err) {
        // One broken subscriber must not cost the others their message.
        console.error('pushwire: subscriber failed:', err);
      }
    }
    return message;
  }

  read(channel: string, since: number): ReadResult {
    const last = this.sequence.last(channel);
    const ch = this.channels.get(channel);
    const count = ch ? ch.count : 0;
    const oldest = last - count + 1; // last + 1 when nothing is retained
    const gap = since > last || since < oldest - 1;
    if (!ch || since >= last) return { messages: NONE, last, gap };
    // Ids are consecutive within a run, so the cursor is an index.
    return { messages: ch.from(Math.max(0, since + 1 - oldest)), last, gap };
  }

  last(channel: string): number {
    return this.sequence.last(channel);
  }

  subscribe(channel: string, subscriber: Subscriber): void {
    const subscribers = this.channel(channel).subscribers;
    if (subscribers.has(subscriber)) return;
    subscribers.add(subscriber);
    this.subscribers++;
  }

  unsubscribe(channel: string, subscriber: Subscriber): void {
    const ch = this.channels.get(channel);
    if (!ch || !ch.subscribers.delete(subscriber)) return;
    this.subscribers--;
    // Nothing retained and nobody listening: the channel costs nothing until next used.
    if (ch.subscribers.size === 0 && ch.count === 0) this.channels.delete(channel);
  }

  private channel(name: string): Channel {
    let ch = this.channels.get(name);
    if (!ch) this.channels.set(name, (ch = new Channel(this.retention)));
    return ch;
  }
}
