import path from 'node:path';
import type { Router } from '../http/router.js';
import { WriteBatch } from '../http/write-batch.js';
import { MemoryChannelLog, type ChannelLog } from './channel-log.js';
import { EventHandlers, mountEmit, type EventHandler } from './event-api.js';
import { IdSequence } from './id-sequence.js';
import { mountIframe } from './iframe-stream.js';
import { LongPolls } from './long-poll.js';
import { CHANNEL_NAME, checkEventName, dataToJson, type PushMessage } from './message.js';
import { LocalSubscription, type ChannelList, type ChannelSubscription } from './local-subscription.js';
import { mountPoll } from './poll.js';
import { resolveSettings, type PushContext, type PushOptions } from './settings.js';
import { mountSse } from './sse.js';
import { StreamRegistry } from './stream.js';
import { WsSubscriptions } from './ws-subscription.js';

export { EventRefused, type EventHandler, type PushClient, type Transport } from './event-api.js';
export { MemoryChannelLog, type ChannelLog, type ReadResult, type Subscriber } from './channel-log.js';
export { IdSequence } from './id-sequence.js';
export { type ChannelList, type ChannelSubscription } from './local-subscription.js';
export { PushMessage, scriptSafeJson } from './message.js';
export { PUSH_DEFAULTS, type PushOptions } from './settings.js';

/** What is open right now, by technique. */
export interface PushStats {
  /** Connections that carry messages: held long polls + streams + WebSockets. */
  connections: number;
  /**
   * Channel subscriptions of this process: one per channel per connection (a
   * `channels=a,b,c` stream counts 3), and per channel of each in-process
   * subscriber.
   */
  subscriptions: number;
  heldPolls: number;
  /** Open SSE and iframe streams. */
  streams: number;
  websockets: number;
  /** In-process subscribers (PushApi.subscribe). */
  local: number;
  /** Channels held in memory. */
  channels: number;
}

/** The server side of the push layer, in the manner of Socket.IO's `io`. */
export interface PushApi {
  /**
   * Publishes on a channel: the message gets the channel's next id and goes to
   * every subscriber, whatever its technique. Throws TypeError for a bad
   * channel name, an event name that is empty or reserved (`push:`), or data
   * JSON cannot hold.
   */
  publish(channel: string, event: string, data: unknown): PushMessage;
  /** The channel's latest id (0 if it never had a message). */
  last(channel: string): number;
  /**
   * Subscribes in process to several channels (docs/PROTOCOL.md §3.11): a
   * name alone gets only new messages, `{name: N}` everything after id N.
   * `onMessage` is called synchronously with each message (and with a
   * `push:gap` message for a cursor that cannot be served); it must not throw.
   */
  subscribe(channels: ChannelList, onMessage: (message: PushMessage) => void): ChannelSubscription;
  /** Handles an event clients send (WebSocket frame or `POST /push/emit`); throw EventRefused to refuse it. */
  on(event: string, handler: EventHandler): void;
  off(event: string, handler?: EventHandler): void;
  stats(): PushStats;
  /** Shutdown: WebSockets closed 1001, streams ended, held long polls answered with `"messages": []`. */
  close(): Promise<void>;
  /** The channel log itself, for layers that follow channels (Socket.IO rooms). */
  readonly log: ChannelLog;
}

const ID_FILE = 'channel-ids.json';

/**
 * Mounts every push path of CONTRACT.md on the router: /push/poll,
 * /push/longpoll, /push/iframe, /push/sse, /push/ws and POST /push/emit.
 */
export function mountPush(router: Router, options: PushOptions = {}): PushApi {
  const settings = resolveSettings(options);
  const log: ChannelLog = options.log ?? new MemoryChannelLog({
    retention: settings.retention,
    sequence: new IdSequence(settings.dataDir === null ? null : path.join(settings.dataDir, ID_FILE), settings.idBlockSize),
  });
  const writes = settings.coalesceWrites ? new WriteBatch(settings.writeDelay) : null;
  const ctx: PushContext = { log, settings, writes };

  const publish = (channel: string, event: string, data: unknown): PushMessage => {
    if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) throw new TypeError(`bad channel name: ${String(channel)}`);
    checkEventName(event);
    return log.publish(channel, event, dataToJson(data));
  };

  const handlers = new EventHandlers();
  const longPolls = new LongPolls(ctx);
  const streams = new StreamRegistry(ctx);
  const websockets = new WsSubscriptions(ctx, handlers, publish);

  mountPoll(router, ctx);
  longPolls.mount(router);
  mountIframe(router, streams);
  mountSse(router, streams);
  websockets.mount(router);
  mountEmit(router, handlers, settings.maxEmitBody, publish);

  const locals = new Set<LocalSubscription>();
  const forget = (sub: LocalSubscription) => locals.delete(sub);

  let closed: Promise<void> | null = null;
  return {
    log,
    publish,
    last: (channel) => log.last(channel),
    subscribe(channels, onMessage) {
      if (typeof onMessage !== 'function') throw new TypeError('onMessage must be a function');
      const sub = new LocalSubscription(log, onMessage, forget);
      locals.add(sub);
      try {
        sub.addAll(channels);
      } catch (err) {
        sub.close();
        throw err;
      }
      return sub;
    },
    on: (event, handler) => handlers.on(event, handler),
    off: (event, handler) => handlers.off(event, handler),
    stats: () => ({
      connections: longPolls.heldCount + streams.count + websockets.count,
      subscriptions: log.subscriptionCount,
      heldPolls: longPolls.heldCount,
      streams: streams.count,
      websockets: websockets.count,
      local: locals.size,
      channels: log.channelCount,
    }),
    close() {
      if (!closed) {
        for (const sub of [...locals]) sub.close();
        longPolls.close();
        streams.close();
        closed = websockets.close();
      }
      return closed;
    },
  };
}
