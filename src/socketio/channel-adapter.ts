import type { ChannelLog, ReadResult, Subscriber } from '../push/channel-log.js';
import type { PushMessage } from '../push/message.js';

/**
 * Everything Socket.IO asks of the channel log, in one place (docs/PROTOCOL.md
 * §5.4). The log behind it may become shared between processes (and its
 * reads asynchronous); only this adapter and its callers' recovery path
 * would change.
 */
export class ChannelAdapter {
  constructor(private readonly log: ChannelLog) {}

  /** Appends a message: it gets the channel's next id and reaches every follower of the channel. */
  publish(channel: string, event: string, dataJson: string): PushMessage {
    return this.log.publish(channel, event, dataJson);
  }

  /** The channel's latest id: where a socket joining its room starts. */
  last(channel: string): number {
    return this.log.last(channel);
  }

  /** Retained messages after `since`, and whether some are gone (recovery is then refused). */
  readAfter(channel: string, since: number): ReadResult {
    return this.log.read(channel, since);
  }

  follow(channel: string, subscriber: Subscriber): void {
    this.log.subscribe(channel, subscriber);
  }

  unfollow(channel: string, subscriber: Subscriber): void {
    this.log.unsubscribe(channel, subscriber);
  }
}
