import type http from 'node:http';
import path from 'node:path';
import { requestUrl } from '../http/respond.js';
import type { Router } from '../http/router.js';
import { WriteBatch } from '../http/write-batch.js';
import { MemoryChannelLog } from './channel-log.js';
import { asyncLog, type AsyncChannelLog } from './log.js';
import { Gate, PushRequest, type Technique } from './authorize.js';
import { EventHandlers, mountEmit, type EventHandler } from './event-api.js';
import { IdSequence } from './id-sequence.js';
import { mountIframe } from './iframe-stream.js';
import { PushLimits } from './limits.js';
import { LongPolls } from './long-poll.js';
import { PushMetrics } from './push-metrics.js';
import { CHANNEL_NAME, checkEventName, dataToJson, type PushMessage } from './message.js';
import { LocalSubscription, type ChannelList, type ChannelSubscription } from './local-subscription.js';
import { mountPoll } from './poll.js';
import { resolveSettings, type PushContext, type PushOptions } from './settings.js';
import { mountSse } from './sse.js';
import { StreamRegistry } from './stream.js';
import { WsSubscriptions } from './ws-subscription.js';

export { AuthorizationRefused, Forbidden, PushRequest, type PushAuthorizer, type Technique, type Verdict } from './authorize.js';
export { LimitRefused } from './limits.js';
export { EventRefused, type EventHandler, type PushClient, type Transport } from './event-api.js';
export { MemoryChannelLog, type ChannelLog, type ReadResult, type Subscriber } from './channel-log.js';
export { asyncLog, LogUnavailableError, type AsyncChannelLog } from './log.js';
export { follow, Following, type FollowResult } from './follow.js';
export { RedisChannelLog, type RedisCommandClient, type RedisSubscriberClient, type RedisLogOptions } from './redis-log.js';
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
   * every subscriber, whatever its technique. Throws TypeError at once for a
   * bad channel name, an event name that is empty or reserved (`push:`), or
   * data JSON cannot hold, and LimitRefused (503) for a new channel past
   * maxChannels. Resolves with the message once it has its id (on
   * the in-memory log, already delivered when this returns); rejects with
   * LogUnavailableError (an HttpError 503) when a shared log cannot be
   * reached. A rejection nobody awaits is not fatal.
   */
  publish(channel: string, event: string, data: unknown): Promise<PushMessage>;
  /** The channel's latest id (0 if it never had a message). Rejects with LogUnavailableError. */
  last(channel: string): Promise<number>;
  /** The latest id of the channel this process has seen, at once, without asking a shared log (exact in memory). */
  knownLast(channel: string): number;
  /**
   * Subscribes in process to several channels (docs/PROTOCOL.md §3.11): a
   * name alone gets only new messages, `{name: N}` everything after id N.
   * `onMessage` is called synchronously with each message (and with a
   * `push:gap` message for a cursor that cannot be served); it must not throw.
   * Its `ready` tells when the backlog is delivered (or that the log could
   * not be read).
   */
  subscribe(channels: ChannelList, onMessage: (message: PushMessage) => void): ChannelSubscription;
  /**
   * The authorization hook's `connection` verdict on a connection of another
   * layer (Socket.IO's handshake, docs/PROTOCOL.md §6.4): resolves with the
   * PushRequest, its `data` as the hook left it; rejects with
   * AuthorizationRefused (403, counted), or with the hook's own fault.
   */
  admitConnection(req: http.IncomingMessage, technique: Technique): Promise<PushRequest>;
  /** Handles an event clients send (WebSocket frame or `POST /push/emit`); throw EventRefused to refuse it. */
  on(event: string, handler: EventHandler): void;
  off(event: string, handler?: EventHandler): void;
  stats(): PushStats;
  /** Shutdown: WebSockets closed 1001, streams ended, held long polls answered with `"messages": []`. */
  close(): Promise<void>;
  /** The channel log itself, for layers that follow channels (Socket.IO rooms). */
  readonly log: AsyncChannelLog;
}

const ID_FILE = 'channel-ids.json';

/**
 * Mounts every push path of docs/PROTOCOL.md §3 on the router: /push/poll,
 * /push/longpoll, /push/iframe, /push/sse, /push/ws and POST /push/emit.
 */
export function mountPush(router: Router, options: PushOptions = {}): PushApi {
  const settings = resolveSettings(options);
  // The in-memory log behind already-resolved promises: a delivery costs what it did.
  const log: AsyncChannelLog = options.log ?? asyncLog(new MemoryChannelLog({
    retention: settings.retention,
    sequence: new IdSequence(settings.dataDir === null ? null : path.join(settings.dataDir, ID_FILE), settings.idBlockSize),
  }));
  const writes = settings.coalesceWrites ? new WriteBatch(settings.writeDelay) : null;
  const metrics = new PushMetrics(options.metrics);
  const limits = new PushLimits(settings, log, metrics);
  const gate = new Gate(options.authorize, metrics);
  const ctx: PushContext = { log, settings, writes, gate, limits, metrics };

  const publish = (channel: string, event: string, data: unknown): Promise<PushMessage> => {
    if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) throw new TypeError(`bad channel name: ${String(channel)}`);
    checkEventName(event);
    const json = dataToJson(data);
    limits.channels([channel]);
    const published = log.publish(channel, event, json);
    metrics.published.value++;
    // A publish fired and forgotten while Redis is away must not end the process.
    published.catch(ignore);
    return published;
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
  mountEmit(router, ctx, handlers, publish);

  const locals = new Set<LocalSubscription>();
  const forget = (sub: LocalSubscription) => locals.delete(sub);

  let closed: Promise<void> | null = null;
  return {
    log,
    publish,
    last: (channel) => log.last(channel),
    knownLast: (channel) => log.knownLast(channel),
    subscribe(channels, onMessage) {
      if (typeof onMessage !== 'function') throw new TypeError('onMessage must be a function');
      const sub = new LocalSubscription(log, onMessage, forget);
      locals.add(sub);
      try {
        sub.ready = sub.addAll(channels);
      } catch (err) {
        sub.close();
        throw err;
      }
      sub.ready.catch(ignore);
      return sub;
    },
    async admitConnection(req, technique) {
      const request = new PushRequest(req, requestUrl(req.url), technique);
      await gate.admit(request, []);
      return request;
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

function ignore(): void {}
