import type { AsyncChannelLog, ReadResult, Subscriber } from './log.js';
import type { PushMessage } from './message.js';
import { UNLIMITED, type AddressQuota } from './limits.js';
import { PushMetrics, type TechniqueMetrics } from './push-metrics.js';

/** Series nobody renders, for sets counted nowhere (in-process subscribers). */
const UNCOUNTED: TechniqueMetrics = new PushMetrics().poll;

/** docs/PROTOCOL.md §3.11: a subscription names 1 to 100 channels. */
export const MAX_CHANNELS = 100;

/** A gap the log reported while a batch was catching up: messages of `channel` up to `last` are gone. */
class HeldGap {
  constructor(readonly channel: string, readonly last: number) {}
}

/** Deliveries held while a batch of channels reads its backlog. */
class CatchUp {
  readonly held: Array<PushMessage | HeldGap> = [];
}

/** One channel of a subscription, and how far its client has got in it. */
export class Cursor {
  /** Set while the channel's backlog is being read: deliveries wait there. */
  catchUp: CatchUp | null = null;

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

/** A channel to add, and the last id the client has of it (null: none, only new messages). */
export interface ChannelRequest {
  readonly channel: string;
  readonly since: number | null;
}

const NONE: readonly PushMessage[] = [];
const RESOLVED = Promise.resolve();

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
    private readonly log: AsyncChannelLog,
    private readonly sink: ChannelSink,
    /** Where deliveries and subscriptions of this set are counted (docs/PROTOCOL.md §6.2). */
    private readonly metrics: TechniqueMetrics = UNCOUNTED,
    /** The client address's share of subscriptions (docs/PROTOCOL.md §6.1). */
    private readonly quota: AddressQuota = UNLIMITED,
  ) {}

  get size(): number { return this.cursors.size; }

  has(channel: string): boolean { return this.cursors.has(channel); }

  /** The cursors, in the order the channels were added. */
  list(): IterableIterator<Cursor> { return this.cursors.values(); }

  /**
   * Adds channels: a gap notice for each channel whose cursor cannot be
   * served, then what the log retains past the cursors (merged in publish
   * order), then live messages. The log may answer later (a shared log is
   * read over the network), so the channels are subscribed first and what
   * arrives meanwhile waits; nothing is lost or doubled. `onRead` runs once
   * the log answered, before anything reaches the sink (a stream sends its
   * head there). Rejects if the log cannot be read: those channels are then
   * dropped. Channels already in the set are left as they are.
   */
  add(requests: readonly ChannelRequest[], tagged: boolean, onRead?: () => void): Promise<void> {
    if (this.closed) return RESOLVED;
    let fresh = 0;
    for (const { channel } of requests) if (!this.cursors.has(channel)) fresh++;
    // Throws (before anything is subscribed) past the address's limit.
    this.quota.take(fresh);
    const batch = new CatchUp();
    const added: Cursor[] = [];
    const latest: boolean[] = [];
    const reads: Array<Promise<ReadResult>> = [];
    for (const { channel, since } of requests) {
      if (this.cursors.has(channel)) continue;
      const cursor = new Cursor(channel, since ?? 0, tagged);
      cursor.catchUp = batch;
      this.cursors.set(channel, cursor);
      this.log.subscribe(channel, this);
      this.metrics.subscriptions.value++;
      this.metrics.subscribed.value++;
      added.push(cursor);
      latest.push(since === null);
      // Subscribed first, so that "the last id" read now leaves nothing out.
      reads.push(since === null ? this.log.last(channel).then(latestOnly) : this.log.read(channel, since));
    }
    if (added.length === 0) {
      onRead?.();
      return RESOLVED;
    }
    return Promise.all(reads).then(
      (results) => this.handOver(batch, added, latest, results, onRead),
      (err: unknown) => {
        for (const cursor of added) if (this.cursors.get(cursor.channel) === cursor) this.remove(cursor.channel);
        throw err;
      },
    );
  }

  /** The backlog (or gap notices), then what waited meanwhile; from here on deliveries go straight through. */
  private handOver(batch: CatchUp, added: Cursor[], fresh: boolean[], results: ReadResult[], onRead?: () => void): void {
    if (this.closed) return;
    onRead?.();
    let backlog: PushMessage[] | null = null;
    let sources = 0;
    const gaps: Cursor[] = [];
    for (let i = 0; i < added.length; i++) {
      const cursor = added[i]!;
      const read = results[i]!;
      if (fresh[i]) cursor.last = read.last;
      if (read.gap) {
        cursor.last = read.last;
        gaps.push(cursor);
      } else if (read.messages.length > 0) {
        backlog = backlog === null ? (read.messages as PushMessage[]) : backlog.concat(read.messages);
        sources++;
      }
    }
    for (const cursor of gaps) {
      if (this.closed) return;
      if (cursor.catchUp === batch) this.sink.gap(cursor);
    }
    if (backlog !== null) {
      if (sources > 1) backlog.sort(byOrder);
      for (const message of backlog) {
        if (this.closed) return;
        this.pass(message, batch);
      }
    }
    // A sink may publish from message() (on an in-memory log that delivers at once):
    // it lands here too, and is passed on in turn.
    const held = batch.held;
    for (let i = 0; i < held.length && !this.closed; i++) {
      const item = held[i]!;
      if (item instanceof HeldGap) this.gapFromLog(item.channel, item.last, batch);
      else this.pass(item, batch);
    }
    for (const cursor of added) if (cursor.catchUp === batch) cursor.catchUp = null;
  }

  /** A message of a channel of `batch`, handed over during catch-up. */
  private pass(message: PushMessage, batch: CatchUp): void {
    const cursor = this.cursors.get(message.channel);
    if (cursor === undefined || cursor.catchUp !== batch || message.id <= cursor.last) return;
    cursor.last = message.id;
    this.metrics.delivered.value++;
    this.sink.message(message, cursor);
  }

  /** Drops a channel; false if it was not in the set. */
  remove(channel: string): boolean {
    const cursor = this.cursors.get(channel);
    if (cursor === undefined) return false;
    this.cursors.delete(channel);
    cursor.catchUp = null;
    this.log.unsubscribe(channel, this);
    this.metrics.subscriptions.value--;
    this.quota.give(1);
    return true;
  }

  deliver(message: PushMessage): void {
    const cursor = this.cursors.get(message.channel);
    if (cursor === undefined) return;
    if (cursor.catchUp !== null) return void cursor.catchUp.held.push(message);
    if (message.id <= cursor.last) return;
    cursor.last = message.id;
    this.metrics.delivered.value++;
    this.sink.message(message, cursor);
  }

  /** The log lost messages of `channel` up to `last` (a shared log that could not be reached for too long). */
  deliverGap(channel: string, last: number): void {
    const cursor = this.cursors.get(channel);
    if (cursor === undefined) return;
    if (cursor.catchUp !== null) {
      cursor.catchUp.held.push(new HeldGap(channel, last));
      return;
    }
    this.gapFromLog(channel, last, null);
  }

  /** Only forward: what the log lost up to L, the backlog may have handed over already. */
  private gapFromLog(channel: string, last: number, batch: CatchUp | null): void {
    const cursor = this.cursors.get(channel);
    if (cursor === undefined || cursor.catchUp !== batch || last <= cursor.last) return;
    cursor.last = last;
    this.sink.gap(cursor);
  }

  /** Unsubscribes every channel; nothing more reaches the sink. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const channel of this.cursors.keys()) this.log.unsubscribe(channel, this);
    this.metrics.subscriptions.value -= this.cursors.size;
    this.quota.give(this.cursors.size);
    this.cursors.clear();
  }

  /** `NAME@N,NAME@N,...` of every channel: the SSE id of docs/PROTOCOL.md §3.11. */
  compoundCursor(): string {
    let text = '';
    for (const cursor of this.cursors.values()) text += (text === '' ? '' : ',') + cursor.channel + '@' + cursor.last;
    return text;
  }
}

function latestOnly(last: number): ReadResult {
  return { messages: NONE, last, gap: false };
}

function byOrder(a: PushMessage, b: PushMessage): number {
  return a.order - b.order;
}
