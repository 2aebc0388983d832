import { HttpError } from '../http/respond.js';
import type { ChannelLog, ReadResult, Subscriber } from './channel-log.js';
import type { PushMessage } from './message.js';

export type { ReadResult, Subscriber } from './channel-log.js';

/**
 * The channel log as the push techniques see it, in-memory or shared between
 * server processes (docs/PROTOCOL.md §3.12). Publishing and reading may go
 * over the network, so they are asynchronous; subscribing registers a local
 * subscriber at once, and the log then calls its `deliver` synchronously,
 * once per message, in id order, wherever the message was published.
 *
 * To start delivering from a cursor without losing or doubling a message
 * published meanwhile, use `follow` (follow.ts), not read + subscribe.
 */
export interface AsyncChannelLog {
  /** Appends a message (data already JSON); resolves once it has its id. Rejects with LogUnavailableError. */
  publish(channel: string, event: string, dataJson: string): Promise<PushMessage>;
  /** Everything retained after `since`, the latest id and the gap verdict. Rejects with LogUnavailableError. */
  read(channel: string, since: number): Promise<ReadResult>;
  /** The channel's latest id (0 if it never had a message). Rejects with LogUnavailableError. */
  last(channel: string): Promise<number>;
  subscribe(channel: string, subscriber: Subscriber): void;
  unsubscribe(channel: string, subscriber: Subscriber): void;
  /** Subscribers across all channels (of this process). */
  readonly subscriptionCount: number;
  /** Channels held in memory by this process. */
  readonly channelCount: number;
  /** Whether this process holds the channel now (the channel limit of docs/PROTOCOL.md §6.1 counts only new ones). */
  hasChannel?(channel: string): boolean;
  /**
   * The latest id this process knows of, without asking anyone: exact for an
   * in-memory log; for a shared log the highest id it has seen (it may be
   * behind). For labels and offsets, never for deciding what to deliver.
   */
  knownLast(channel: string): number;
  /** Lets go of connections and timers; later calls reject. */
  close(): Promise<void>;
}

/**
 * The log cannot be reached (Redis down, or the log closed). An HttpError
 * with status 503, so a request handler that lets it through answers
 * `503 {"error": ...}` with no mapping of its own.
 */
export class LogUnavailableError extends HttpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(503, message);
    this.name = 'LogUnavailableError';
    if (options && 'cause' in options) this.cause = options.cause;
  }
}

/**
 * A synchronous log (MemoryChannelLog) behind the asynchronous interface:
 * already-resolved promises, and subscribers registered with the inner log
 * itself, so a delivery costs nothing more than before.
 */
class SyncLogAdapter implements AsyncChannelLog {
  private closed = false;

  constructor(readonly inner: ChannelLog) {}

  get subscriptionCount(): number { return this.inner.subscriptionCount; }
  get channelCount(): number { return this.inner.channelCount; }
  hasChannel(channel: string): boolean { return this.inner.hasChannel?.(channel) ?? false; }

  publish(channel: string, event: string, dataJson: string): Promise<PushMessage> {
    if (this.closed) return Promise.reject(new LogUnavailableError('the channel log is closed'));
    try {
      return Promise.resolve(this.inner.publish(channel, event, dataJson));
    } catch (err) {
      // An id reservation that could not be made durable: the log cannot take messages.
      return Promise.reject(err instanceof TypeError ? err : new LogUnavailableError(`cannot publish: ${(err as Error).message}`, { cause: err }));
    }
  }

  read(channel: string, since: number): Promise<ReadResult> {
    return Promise.resolve(this.inner.read(channel, since));
  }

  last(channel: string): Promise<number> {
    return Promise.resolve(this.inner.last(channel));
  }

  knownLast(channel: string): number {
    return this.inner.last(channel);
  }

  subscribe(channel: string, subscriber: Subscriber): void {
    this.inner.subscribe(channel, subscriber);
  }

  unsubscribe(channel: string, subscriber: Subscriber): void {
    this.inner.unsubscribe(channel, subscriber);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** `log` (e.g. a MemoryChannelLog) as an AsyncChannelLog. */
export function asyncLog(log: ChannelLog): AsyncChannelLog {
  return new SyncLogAdapter(log);
}

/** The synchronous log behind `log` when it is one made by asyncLog(); null for a shared log. */
export function syncView(log: AsyncChannelLog): ChannelLog | null {
  return log instanceof SyncLogAdapter ? log.inner : null;
}

/** An AsyncChannelLog rather than a synchronous ChannelLog (only the former has close()). */
export function isAsyncLog(log: ChannelLog | AsyncChannelLog): log is AsyncChannelLog {
  return typeof (log as AsyncChannelLog).close === 'function';
}
