import type { Subscriber } from './channel-log.js';
import type { PushMessage } from './message.js';

/** Reads a channel from the shared store: every retained message after `after`, and its latest id. */
export type FetchAfter = (channel: string, after: number) => Promise<{ messages: readonly PushMessage[]; last: number }>;

/** The cursor that asks only for the latest id. */
const LATEST_ONLY = Number.MAX_SAFE_INTEGER;

/**
 * The local subscribers of one channel of a shared log, and the order in
 * which they get its messages. Messages come from pub/sub (in id order, but
 * some are lost while the connection is down) and from this server's own
 * publishes (whose pub/sub copy may come before or after). Whatever their
 * source, each is delivered once, in id order, with no hole: a hole is
 * filled by reading the store, and only what the store no longer holds
 * becomes a gap. Delivery starts after the baseline, the latest id when the
 * first subscriber came.
 */
export class ChannelFeed {
  readonly subscribers = new Set<Subscriber>();
  /** Last id delivered; null until the baseline (the latest id when the first subscriber came) is read. */
  private delivered: number | null = null;
  /** Highest id known to exist. */
  private target = 0;
  /** Messages that came ahead of their predecessors. */
  private readonly pending = new Map<number, PushMessage>();
  private fetching = false;
  /** A fetch is wanted once the one in flight is back (the connection came back meanwhile). */
  private refetch = false;
  private dropped = false;

  constructor(readonly channel: string, private readonly fetchAfter: FetchAfter, private readonly onError: (err: Error) => void) {
    this.fetch();
  }

  /** A message from pub/sub: ids arrive in order there, so one past a hole means the hole was lost. */
  received(message: PushMessage): void {
    if (message.id > this.target) this.target = message.id;
    this.offer(message);
    this.advance();
  }

  /** A message this server published: delivered as soon as its predecessors are. */
  published(message: PushMessage): void {
    this.offer(message);
    this.advance();
  }

  /**
   * A read of the store found `last` as the channel's latest id. While the
   * baseline is unknown (its fetch failed, or is still out), that is the
   * baseline: too low costs only deliveries that subscribers' cursors skip,
   * whereas a later, higher baseline would skip messages a follower of this
   * read is owed.
   */
  seen(last: number): void {
    if (this.delivered !== null || this.dropped) return;
    this.setBaseline(last);
    this.advance();
  }

  /** The connection to the store came back: messages may have been missed meanwhile. */
  resync(): void {
    if (this.fetching) this.refetch = true;
    else this.fetch();
  }

  /** The last subscriber left, or the log closed: nothing more is delivered. */
  drop(): void {
    this.dropped = true;
    this.pending.clear();
  }

  private offer(message: PushMessage): void {
    if (this.dropped || (this.delivered !== null && message.id <= this.delivered)) return;
    if (!this.pending.has(message.id)) this.pending.set(message.id, message);
  }

  /** Delivers what is contiguous, then reads the store if a hole is left. */
  private advance(): void {
    this.drain();
    if (!this.dropped && this.delivered !== null && this.delivered < this.target) this.fetch();
  }

  private drain(): void {
    if (this.dropped || this.delivered === null) return; // the baseline fetch is in flight
    let next: PushMessage | undefined;
    while ((next = this.pending.get(this.delivered + 1)) !== undefined) {
      this.pending.delete(next.id);
      this.delivered = next.id;
      for (const subscriber of this.subscribers) {
        try {
          subscriber.deliver(next);
        } catch (err) {
          // One broken subscriber must not cost the others their message.
          console.error('pushwire: subscriber failed:', err);
        }
      }
      if (this.dropped) return;
    }
    if (this.delivered > this.target) this.target = this.delivered;
  }

  private setBaseline(last: number): void {
    this.delivered = last;
    for (const id of this.pending.keys()) if (id <= last) this.pending.delete(id);
    if (last > this.target) this.target = last;
  }

  /** Reads the store after what is delivered (or, for the baseline, only the latest id). */
  private fetch(): void {
    if (this.fetching || this.dropped) return;
    this.fetching = true;
    this.refetch = false;
    const after = this.delivered;
    this.fetchAfter(this.channel, after ?? LATEST_ONLY).then(({ messages, last }) => {
      if (this.dropped) return;
      if (last > this.target) this.target = last;
      if (after === null) {
        // The baseline, unless a read set it meanwhile (then this only raised the target).
        // What pub/sub brought since the first subscriber came is owed to it, even
        // when this fetch ran later (it failed first, and was tried again).
        if (this.delivered === null) {
          let base = last;
          for (const id of this.pending.keys()) if (id - 1 < base) base = id - 1;
          this.setBaseline(base);
        }
      } else {
        for (const message of messages) this.offer(message);
        this.drain();
        // The store gave everything after `after` it still holds, all offered: what is
        // still missing below `last` is gone for good.
        const delivered = this.delivered!;
        if (delivered < last && !this.pending.has(delivered + 1)) this.lost(last);
      }
      this.fetching = false;
      if (this.refetch) this.fetch();
      else this.advance();
    }, (err: Error) => {
      this.fetching = false;
      // Tried again on resync, when the connection is back.
      if (!this.dropped) this.onError(err);
      if (this.refetch) this.fetch();
    });
  }

  /** Messages up to `last` are gone: subscribers hear of the gap and continue after it. */
  private lost(last: number): void {
    this.setBaseline(last);
    for (const subscriber of this.subscribers) {
      try {
        subscriber.deliverGap?.(this.channel, last);
      } catch (err) {
        console.error('pushwire: subscriber failed:', err);
      }
    }
  }
}
