import type { AsyncChannelLog, Subscriber } from './log.js';
import type { PushMessage } from './message.js';

/** What reading the backlog found: the channel's latest id and the gap verdict (docs/PROTOCOL.md §3.2). */
export interface FollowResult {
  readonly last: number;
  readonly gap: boolean;
}

const NONE: readonly PushMessage[] = [];

/** A gap seen while the backlog was being read: its L. */
type Buffered = PushMessage | number;

/**
 * One channel followed from a cursor: every message after it, then every new
 * one, each exactly once and in id order, to one target.
 *
 * The race it closes: a message published while the backlog is being read
 * must be neither lost (published after the read, before the subscription)
 * nor doubled (in the backlog and delivered live). So the subscription comes
 * first and buffers, then the backlog is read and handed over, then the
 * buffer, skipping ids already handed over. It stays registered as the
 * target's subscriber: the cursor check is one comparison per delivery.
 */
export class Following implements Subscriber {
  /** The last id handed to the target (or the L of a gap): what a client would resume from. */
  cursor: number;
  /** Resolves once the backlog (or the gap) and what arrived meanwhile are handed over; rejects if the read failed (the follow is then stopped). */
  readonly ready: Promise<FollowResult>;
  /** Deliveries held while the backlog is read; null once live. */
  private buffer: Buffered[] | null = [];
  private stopped = false;

  constructor(
    private readonly log: AsyncChannelLog,
    readonly channel: string,
    since: number | null,
    private readonly target: Subscriber,
  ) {
    this.cursor = since ?? 0;
    log.subscribe(channel, this);
    this.ready = this.catchUp(since);
    // A caller that stopped before a failed read may no longer listen; one that awaits still gets the error.
    this.ready.catch(() => {});
  }

  deliver(message: PushMessage): void {
    if (this.buffer) this.buffer.push(message);
    else this.pass(message);
  }

  deliverGap(_channel: string, last: number): void {
    if (this.buffer) this.buffer.push(last);
    else this.gap(last);
  }

  /** Ends the subscription; safe at any time, also while the backlog is being read. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.buffer = null;
    this.log.unsubscribe(this.channel, this);
  }

  get live(): boolean {
    return this.buffer === null && !this.stopped;
  }

  private async catchUp(since: number | null): Promise<FollowResult> {
    let read;
    try {
      // No cursor: only what comes after the channel's last id, read after subscribing.
      read = since === null ? { messages: NONE, last: await this.log.last(this.channel), gap: false } : await this.log.read(this.channel, since);
    } catch (err) {
      this.stop();
      throw err;
    }
    if (since === null && this.buffer) this.cursor = read.last;
    const result: FollowResult = { last: read.last, gap: read.gap };
    const buffer = this.buffer;
    if (!buffer) return result; // stopped meanwhile
    if (read.gap) this.gap(read.last, true);
    else for (const message of read.messages) this.pass(message);
    // A target may publish from deliver(), which (on a synchronous log) delivers to us
    // at once: it lands in the buffer, which is drained until nothing more comes.
    for (let i = 0; i < buffer.length && this.buffer; i++) {
      const item = buffer[i]!;
      if (typeof item === 'number') this.gap(item);
      else this.pass(item);
    }
    if (this.buffer) this.buffer = null;
    return result;
  }

  private pass(message: PushMessage): void {
    if (this.stopped || message.id <= this.cursor) return;
    this.cursor = message.id;
    try {
      this.target.deliver(message);
    } catch (err) {
      // The log guards its own calls; these (backlog, buffer) are ours to guard.
      console.error('pushwire: subscriber failed:', err);
    }
  }

  /**
   * The cursor moves to L: from the read's verdict always (a cursor above the
   * channel's last id comes back down to it); from the log only forward (what
   * it lost up to L the backlog may already have handed over).
   */
  private gap(last: number, fromRead = false): void {
    if (this.stopped || (!fromRead && last <= this.cursor)) return;
    this.cursor = last;
    try {
      this.target.deliverGap?.(this.channel, last);
    } catch (err) {
      console.error('pushwire: subscriber failed:', err);
    }
  }
}

/**
 * Delivers to `target` every message of `channel` after `since`, then every
 * new one, exactly once and in id order; a gap (docs/PROTOCOL.md §3.2) goes
 * to `target.deliverGap` and delivery continues after the channel's last id.
 * `since` null: only new messages (after the last id, read once subscribed).
 * Subscribed at once; `ready` tells when the backlog is handed over; `stop()`
 * ends it. A target followed on several channels gets each message with its
 * `channel`.
 */
export function follow(log: AsyncChannelLog, channel: string, since: number | null, target: Subscriber): Following {
  return new Following(log, channel, since, target);
}
