import { ChannelFeed } from './channel-feed.js';
import type { ReadResult, Subscriber } from './channel-log.js';
import { LogUnavailableError, type AsyncChannelLog } from './log.js';
import { CHANNEL_NAME, PushMessage } from './message.js';
import { PUBLISH, READ, type Script } from './redis-scripts.js';

/**
 * The commands the log sends, in the shape of ioredis: an ioredis `Redis`
 * fits as it is. node-redis v4 needs the few lines of adapter in README.md
 * ("Running several servers").
 */
export interface RedisCommandClient {
  /** EVALSHA sha numkeys key... arg...; rejects with an error whose message holds NOSCRIPT when the script is not loaded. */
  evalsha(sha: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  /** EVAL script numkeys key... arg... (loads the script for later EVALSHA). */
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  /** A second connection for pub/sub; not needed when `subscriber` is given. */
  duplicate?(): RedisSubscriberClient;
  /** 'ready' (connected, again) and 'close' (connection lost): publishes then fail at once instead of queueing. */
  on?(event: 'ready' | 'close', listener: () => void): unknown;
  off?(event: 'ready' | 'close', listener: () => void): unknown;
}

/** The pub/sub connection, in the shape of ioredis. */
export interface RedisSubscriberClient {
  /** PSUBSCRIBE pattern; resolves once subscribed. Calling it again for the same pattern is harmless. */
  psubscribe(pattern: string): Promise<unknown>;
  on(event: 'pmessage', listener: (pattern: string, channel: string, message: string) => void): unknown;
  /** 'ready' after every (re)connect: the log subscribes again and reads what it may have missed. */
  on(event: 'ready', listener: () => void): unknown;
  off?(event: string, listener: (...args: any[]) => void): unknown;
  /** Closes the connection (called on close() only for a connection the log made with duplicate()). */
  quit?(): Promise<unknown>;
}

export interface RedisLogOptions {
  /** The pub/sub connection; default: `client.duplicate()`, closed with the log. */
  subscriber?: RedisSubscriberClient;
  /** Prefix of every key and pub/sub channel (default `pushwire:`): several applications can share one Redis. */
  prefix?: string;
  /** Messages kept per channel (at least 1000 for docs/PROTOCOL.md §3.2; default 1000). */
  retention?: number;
  /** Told of Redis errors the log recovers from by itself (default: one stderr line per outage). */
  onError?: (err: Error) => void;
}

/** Escapes a glob pattern's special characters (PSUBSCRIBE). */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}

/**
 * The channel log on Redis, shared by every server on that Redis
 * (docs/PROTOCOL.md §3.12). Per channel: an id counter and a stream of the
 * retained messages, written together by one Lua script that also PUBLISHes
 * the message; every server receives it over its pub/sub connection and
 * delivers it to its own subscribers through a ChannelFeed, which fills holes
 * (a lost pub/sub message, a reconnect) from the stream. Reads go to Redis, so
 * any server answers any cursor.
 */
export class RedisChannelLog implements AsyncChannelLog {
  private readonly client: RedisCommandClient;
  private readonly subscriber: RedisSubscriberClient;
  private readonly ownsSubscriber: boolean;
  private readonly prefix: string;
  private readonly pattern: string;
  private readonly retention: string;
  private readonly reportError: (err: Error) => void;
  private readonly feeds = new Map<string, ChannelFeed>();
  /** Highest id seen per channel: the counter never comes back below it (see redis-scripts.ts). */
  private readonly floors = new Map<string, number>();
  private subscribers = 0;
  /** The command connection is up (as far as its events tell). */
  private up = true;
  private closed = false;
  /** Errors are reported once per outage, not once per failed command. */
  private quiet = false;
  private started: Promise<void> | null = null;
  private whenSubscribed: (() => void) | null = null;

  private readonly onCommandReady = (): void => {
    this.up = true;
    this.quiet = false;
    this.resyncAll();
  };
  private readonly onCommandClose = (): void => { this.up = false; };
  private readonly onSubscriberReady = (): void => { void this.subscribeAndResync(); };
  private readonly onMessage = (_pattern: string, pubChannel: string, payload: string): void => this.receive(pubChannel, payload);
  private readonly onFeedError = (err: Error): void => this.failed(err);

  constructor(client: RedisCommandClient, options: RedisLogOptions = {}) {
    const retention = options.retention ?? 1000;
    if (!Number.isSafeInteger(retention) || retention < 1) throw new RangeError('retention must be a positive integer');
    if (!options.subscriber && typeof client.duplicate !== 'function') throw new TypeError('give options.subscriber, or a client with duplicate()');
    this.client = client;
    this.ownsSubscriber = !options.subscriber;
    this.subscriber = options.subscriber ?? client.duplicate!();
    this.prefix = options.prefix ?? 'pushwire:';
    this.pattern = `${globEscape(this.prefix)}msg:*`;
    this.retention = String(retention);
    this.reportError = options.onError ?? ((err) => process.stderr.write(`pushwire: Redis: ${err.message}\n`));
  }

  /**
   * Subscribes to every channel's messages; resolves once Redis confirmed it
   * (give it a deadline of your own). The first subscribe() calls it if you
   * did not; awaiting it first tells you that Redis is there.
   */
  start(): Promise<void> {
    if (this.started) return this.started;
    this.client.on?.('ready', this.onCommandReady);
    this.client.on?.('close', this.onCommandClose);
    this.subscriber.on('pmessage', this.onMessage);
    this.subscriber.on('ready', this.onSubscriberReady);
    this.started = new Promise<void>((resolve) => { this.whenSubscribed = resolve; });
    // A client without an offline queue refuses this before it is connected: its 'ready' tries again.
    void this.subscribeAndResync();
    return this.started;
  }

  get subscriptionCount(): number { return this.subscribers; }
  get channelCount(): number { return this.feeds.size; }

  async publish(channel: string, event: string, dataJson: string): Promise<PushMessage> {
    // The pub/sub payload is `id\nevent\ndata`: an event holding a line break would split it.
    if (/[\r\n]/.test(event)) throw new TypeError('event must not contain a line break');
    const keys = this.keys(channel);
    const id = Number(await this.run(PUBLISH, keys[0], keys[1], `${this.prefix}msg:${channel}`, event, dataJson, this.retention, String(this.floor(channel))));
    this.raiseFloor(channel, id);
    const message = new PushMessage(channel, id, event, dataJson);
    // Delivered here at once when its predecessors are; the pub/sub copy is then a duplicate.
    this.feeds.get(channel)?.published(message);
    return message;
  }

  async read(channel: string, since: number): Promise<ReadResult> {
    const { messages, last } = await this.fetch(channel, since);
    this.feeds.get(channel)?.seen(last);
    const gap = since > last || (since < last && (messages.length === 0 || messages[0]!.id !== since + 1));
    return { messages, last, gap };
  }

  async last(channel: string): Promise<number> {
    return (await this.fetch(channel, Number.MAX_SAFE_INTEGER)).last;
  }

  knownLast(channel: string): number {
    return this.floor(channel);
  }

  subscribe(channel: string, subscriber: Subscriber): void {
    if (this.closed) return;
    // Without the pub/sub subscription only this server's own messages would arrive.
    if (!this.started) void this.start();
    let feed = this.feeds.get(channel);
    if (!feed) this.feeds.set(channel, (feed = new ChannelFeed(channel, this.fetchAfter, this.onFeedError)));
    if (feed.subscribers.has(subscriber)) return;
    feed.subscribers.add(subscriber);
    this.subscribers++;
  }

  unsubscribe(channel: string, subscriber: Subscriber): void {
    const feed = this.feeds.get(channel);
    if (!feed || !feed.subscribers.delete(subscriber)) return;
    this.subscribers--;
    if (feed.subscribers.size === 0) {
      feed.drop();
      this.feeds.delete(channel);
    }
  }

  /** Unsubscribes from Redis and closes the pub/sub connection if the log made it; the command client stays the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.off?.('ready', this.onCommandReady);
    this.client.off?.('close', this.onCommandClose);
    this.subscriber.off?.('pmessage', this.onMessage);
    this.subscriber.off?.('ready', this.onSubscriberReady);
    for (const feed of this.feeds.values()) feed.drop();
    this.feeds.clear();
    this.subscribers = 0;
    if (this.ownsSubscriber) await this.subscriber.quit?.().catch(() => {});
  }

  private readonly fetchAfter = (channel: string, after: number) => this.fetch(channel, after);

  /** The READ script: the channel's latest id and its retained messages after `since`. */
  private async fetch(channel: string, since: number): Promise<{ messages: PushMessage[]; last: number }> {
    const keys = this.keys(channel);
    const reply = await this.run(READ, keys[0], keys[1], String(since), String(this.floor(channel)));
    const [lastText, entries] = reply as [string, [string, string[]][]];
    const last = Number(lastText);
    const messages = new Array<PushMessage>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const [streamId, fields] = entries[i]!;
      let event = '';
      let data = 'null';
      for (let f = 0; f < fields.length; f += 2) {
        if (fields[f] === 'e') event = fields[f + 1]!;
        else if (fields[f] === 'd') data = fields[f + 1]!;
      }
      messages[i] = new PushMessage(channel, parseInt(streamId, 10), event, data);
    }
    this.raiseFloor(channel, last);
    return { messages, last };
  }

  /** EVALSHA, and EVAL when Redis does not have the script (first use, or after a restart). */
  private async run(script: Script, ...keysAndArgs: string[]): Promise<unknown> {
    if (this.closed) throw new LogUnavailableError('the channel log is closed');
    if (!this.up) throw new LogUnavailableError('Redis is unreachable: the connection is down');
    try {
      try {
        return await this.client.evalsha(script.sha, 2, ...keysAndArgs);
      } catch (err) {
        if (!String((err as Error)?.message).includes('NOSCRIPT')) throw err;
        return await this.client.eval(script.source, 2, ...keysAndArgs);
      }
    } catch (err) {
      throw new LogUnavailableError(`Redis is unavailable: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }

  /** A pub/sub message: `<prefix>msg:<channel>` carrying `id\nevent\ndata`. */
  private receive(pubChannel: string, payload: string): void {
    const feed = this.feeds.get(pubChannel.slice(this.prefix.length + 4));
    if (!feed) return;
    const a = payload.indexOf('\n');
    const b = payload.indexOf('\n', a + 1);
    const id = Number(payload.slice(0, a));
    if (a < 1 || b < 0 || !Number.isSafeInteger(id)) return this.failed(new Error(`malformed message on ${pubChannel}`));
    this.raiseFloor(feed.channel, id);
    feed.received(new PushMessage(feed.channel, id, payload.slice(a + 1, b), payload.slice(b + 1)));
  }

  private async subscribeAndResync(): Promise<void> {
    if (this.closed) return;
    try {
      await this.subscriber.psubscribe(this.pattern);
    } catch (err) {
      // Not connected yet: the next 'ready' tries again. Before the first success, start()'s caller is waiting and judges.
      if (this.whenSubscribed === null) this.failed(err as Error);
      return;
    }
    this.quiet = false;
    this.whenSubscribed?.();
    this.whenSubscribed = null;
    // Subscribed again: whatever was published while we were not is read from the streams.
    this.resyncAll();
  }

  private resyncAll(): void {
    for (const feed of this.feeds.values()) feed.resync();
  }

  private failed(err: Error): void {
    if (this.closed || this.quiet) return;
    this.quiet = true;
    this.reportError(err);
  }

  private keys(channel: string): [string, string] {
    if (!CHANNEL_NAME.test(channel)) throw new TypeError(`bad channel name: ${channel}`);
    // The hash tag keeps both keys of a channel in one slot, as a script needs on a cluster.
    const tag = `${this.prefix}{${channel}}`;
    return [`${tag}:id`, `${tag}:log`];
  }

  private floor(channel: string): number {
    return this.floors.get(channel) ?? 0;
  }

  private raiseFloor(channel: string, id: number): void {
    if (id > (this.floors.get(channel) ?? 0)) this.floors.set(channel, id);
  }
}
