import type { ChannelLog, ReadResult, Subscriber } from '../push/channel-log.js';
import { asyncLog, isAsyncLog, syncView, type AsyncChannelLog } from '../push/log.js';

/**
 * Everything Socket.IO asks of the channel log, in one place (docs/PROTOCOL.md
 * §5.4). Socket.IO's own API is synchronous (`io.emit` returns at once,
 * `socket.join` sets the cursor it joins at), so this adapter answers from
 * what the process knows: exactly on the in-memory log; on a shared log
 * (docs/PROTOCOL.md §3.12) publishing is fire-and-forget and connection state
 * recovery is refused (the client reconnects afresh, `recovered` false).
 */
export class ChannelAdapter {
  readonly log: AsyncChannelLog;
  /** The log read synchronously; null on a shared log. */
  private readonly local: ChannelLog | null;
  /** A publish failed and was reported; the next success ends the outage. */
  private failing = false;

  constructor(log: ChannelLog | AsyncChannelLog) {
    this.log = isAsyncLog(log) ? log : asyncLog(log);
    this.local = syncView(this.log);
  }

  /** Appends a message: it gets the channel's next id and reaches every follower of the channel. */
  publish(channel: string, event: string, dataJson: string): void {
    this.log.publish(channel, event, dataJson).then(() => { this.failing = false; }, (err: unknown) => {
      // io.emit has returned already: the operator hears of it, once per outage.
      if (this.failing) return;
      this.failing = true;
      console.error(`pushwire: Socket.IO broadcast on ${channel} not published: ${(err as Error)?.message}`);
    });
  }

  /** The channel's latest id as this process knows it: where a socket joining its room starts. */
  last(channel: string): number {
    return this.log.knownLast(channel);
  }

  /** Retained messages after `since`, and whether some are gone (recovery is then refused); null: cannot tell at once (a shared log). */
  readAfter(channel: string, since: number): ReadResult | null {
    return this.local === null ? null : this.local.read(channel, since);
  }

  follow(channel: string, subscriber: Subscriber): void {
    this.log.subscribe(channel, subscriber);
  }

  unfollow(channel: string, subscriber: Subscriber): void {
    this.log.unsubscribe(channel, subscriber);
  }
}
