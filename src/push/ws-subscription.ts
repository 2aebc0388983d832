import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode } from '../protocol/constants.js';
import { truncateCloseReason } from '../protocol/close.js';
import { HttpError, requestUrl } from '../http/respond.js';
import type { Router } from '../http/router.js';
import { abort } from '../http/raw-socket.js';
import { WebSocketServer } from '../websocket/server.js';
import { WebSocket } from '../websocket/websocket.js';
import { AuthorizationRefused, PushRequest, channelNames } from './authorize.js';
import { LogUnavailableError, type AsyncChannelLog } from './log.js';
import { ChannelSet, type ChannelRequest, type ChannelSink, type Cursor } from './channel-set.js';
import { LimitRefused, type AddressQuota } from './limits.js';
import { EventRefused, parseClientEvent, type ClientEvent, type EventHandlers, type PushClient } from './event-api.js';
import { CHANNEL_NAME, RESERVED_PREFIX, dataToJson, gapMessage, type PushMessage } from './message.js';
import { subscriptionParams, type SubscriptionParams } from './params.js';
import type { PushContext } from './settings.js';

type Publisher = (channel: string, event: string, data: unknown) => Promise<PushMessage>;

/** One `/push/ws` connection: a subscriber of its channels and a client that sends events. */
class WsSubscriber implements ChannelSink, PushClient {
  readonly transport = 'websocket';
  released = false;
  readonly set: ChannelSet;
  /** In-band subscriptions waiting for the authorization hook's verdict, each with its own token. */
  readonly pending = new Map<string, object>();

  constructor(
    private readonly owner: WsSubscriptions,
    log: AsyncChannelLog,
    readonly ws: WebSocket,
    readonly id: number,
    /** The channel of `channel=C`; null when opened with `channels=` or none. */
    readonly channel: string | null,
    /** The upgrade request, as the authorization hooks see it for the connection's life. */
    readonly request: PushRequest,
    quota: AddressQuota,
  ) {
    this.set = new ChannelSet(log, this, owner.counts, quota);
  }

  get channels(): string[] {
    return Array.from(this.set.list(), (cursor) => cursor.channel);
  }

  message(message: PushMessage, cursor: Cursor): void {
    // The frame was built once for every subscriber (and compressed once per deflate setting).
    this.ws.sendPrepared(message.forms(cursor.tagged).prepared());
    if (this.ws.bufferedAmount > this.owner.maxQueued) this.owner.suspect(this);
  }

  gap(cursor: Cursor): void {
    this.ws.sendFrame(gapMessage(cursor.channel, cursor.last).forms(cursor.tagged).prepared().frame);
  }

  emit(event: string, data: unknown): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    if (typeof event !== 'string' || event.length === 0) throw new TypeError('event must be a non-empty string');
    this.ws.send(`{"event":${JSON.stringify(event)},"data":${dataToJson(data)}}`);
    return true;
  }

  publish(channel: string, event: string, data: unknown): Promise<PushMessage> {
    return this.owner.publisher(channel, event, data);
  }
}

/**
 * WebSocket subscription, `GET /push/ws?channel=C&since=N` (or
 * `channels=SPEC`, or neither) with an upgrade: each message one text frame
 * holding the message object; the client sends events as text frames
 * `{"event", "data"}`, among them `push:subscribe` and `push:unsubscribe`
 * to change its channels in band (docs/PROTOCOL.md §3.11).
 */
export class WsSubscriptions {
  private readonly wss: WebSocketServer;
  private readonly active = new Set<WsSubscriber>();
  readonly maxQueued: number;
  readonly counts: PushContext['metrics']['websocket'];
  /** Subscribers whose queue passed the bound during this turn of the event loop. */
  private readonly suspects = new Set<WsSubscriber>();
  private readonly checkSuspects = (): void => {
    for (const subscriber of this.suspects) {
      if (!subscriber.released && subscriber.ws.bufferedAmount > this.maxQueued) this.cutOff(subscriber);
    }
    this.suspects.clear();
  };

  constructor(
    private readonly ctx: PushContext,
    private readonly handlers: EventHandlers,
    readonly publisher: Publisher,
  ) {
    this.maxQueued = ctx.settings.maxQueuedBytes;
    this.counts = ctx.metrics.websocket;
    this.wss = new WebSocketServer({
      noServer: true,
      // A client event is bounded as POST /push/emit is: JSON.parse of a large nested one holds the loop for seconds.
      maxPayload: Math.min(ctx.settings.maxMessage, ctx.settings.maxEmitBody),
      heartbeatInterval: ctx.settings.heartbeatInterval,
      // This set is the one that counts; the server need not keep another.
      clientTracking: true,
      // Browsers offer permessage-deflate; without context takeover on our side a
      // message is compressed once for all who share its settings, not per client.
      perMessageDeflate: { serverNoContextTakeover: true },
    });
  }

  get count(): number { return this.active.size; }

  mount(router: Router): void {
    router.upgrade('/push/ws', (req, socket, head) => this.upgrade(req, socket, head));
  }

  /**
   * The limits and the authorization hook judge the request before any
   * handshake: a refusal is an HTTP answer (403, 503, 400), not a close.
   */
  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    let params: SubscriptionParams;
    let request: PushRequest;
    let admission: void | Promise<void>;
    try {
      const url = requestUrl(req.url);
      params = subscriptionParams(url, undefined, true);
      this.ctx.limits.subscriptionsPerConnection(params.channels.length);
      request = new PushRequest(req, url, 'websocket');
      admission = this.ctx.gate.admit(request, channelNames(params.channels));
    } catch (err) {
      return refuseUpgrade(socket, err);
    }
    const accept = (): void => {
      // The client may have gone while the verdict was out: a FIN leaves the socket half-open, not destroyed.
      if (socket.destroyed || socket.readableEnded) return void socket.destroy();
      const quota = this.ctx.limits.quotaFor(req.socket.remoteAddress);
      try {
        this.ctx.limits.channels(channelNames(params.channels));
        this.ctx.limits.checkFrom(quota, params.channels.length);
      } catch (err) {
        return refuseUpgrade(socket, err);
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, params, request, quota));
    };
    if (!admission) return accept();
    admission.then(accept, (err: unknown) => refuseUpgrade(socket, err));
  }

  private attach(ws: WebSocket, params: SubscriptionParams, request: PushRequest, quota: AddressQuota): void {
    const channel = params.tagged || params.channels.length === 0 ? null : params.channels[0]!.channel;
    const subscriber = new WsSubscriber(this, this.ctx.log, ws, this.handlers.clientId(), channel, request, quota);
    // Broadcast frames owed in one turn leave in one write (docs/PROTOCOL.md §3.9).
    ws.coalesceWrites(this.ctx.writes);
    this.active.add(subscriber);
    ws.on('close', () => this.release(subscriber));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(subscriber, data, isBinary));
    this.follow(subscriber, params.channels, params.tagged);
  }

  /** Adds channels; a log that cannot be read closes the connection 1013, and the client resumes later. */
  private follow(subscriber: WsSubscriber, channels: readonly ChannelRequest[], tagged: boolean): void {
    if (channels.length === 0) return;
    let added: Promise<void>;
    try {
      added = subscriber.set.add(channels, tagged);
    } catch (err) {
      return this.refuse(subscriber, err); // the address's limit (docs/PROTOCOL.md §6.1): close 1013
    }
    added.catch((err: unknown) => {
      if (subscriber.released) return;
      this.closeClient(subscriber, CloseCode.TryAgainLater, `cannot read the channel log: ${(err as Error)?.message}`);
    });
  }

  private receive(client: WsSubscriber, data: Buffer, isBinary: boolean): void {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    let result: void | Promise<void>;
    let name: string | undefined;
    try {
      if (isBinary) throw new EventRefused('events are JSON text frames');
      const event = parseClientEvent(data.toString('utf8'));
      if (event.event.startsWith(RESERVED_PREFIX)) return this.control(client, event);
      name = event.event;
      const admission = this.ctx.gate.emit(client.request, event.event, event.data);
      result = admission
        ? admission.then(() => (client.released ? undefined : this.handlers.dispatch(event, client)))
        : this.handlers.dispatch(event, client);
    } catch (err) {
      return this.refuse(client, err, name);
    }
    if (result) result.catch((err: unknown) => this.refuse(client, err, name));
  }

  /** `push:subscribe` and `push:unsubscribe`; any other `push:` event is malformed (docs/PROTOCOL.md §3.11). */
  private control(client: WsSubscriber, event: ClientEvent): void {
    const { data } = event;
    if (event.event !== 'push:subscribe' && event.event !== 'push:unsubscribe') {
      throw new EventRefused(`unknown event ${event.event}: names beginning with push: are reserved`);
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new EventRefused(`${event.event}: data must be an object`);
    const { channel, since } = data as { channel?: unknown; since?: unknown };
    if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) {
      throw new EventRefused(`${event.event}: channel must match ^[A-Za-z0-9_.:-]{1,64}$`);
    }
    if (event.event === 'push:unsubscribe') {
      // One still waiting for its verdict is forgotten: the verdict, when it comes, adds nothing.
      client.pending.delete(channel);
      return void client.set.remove(channel);
    }
    if (since !== undefined && since !== null && !(Number.isSafeInteger(since) && (since as number) >= 0)) {
      throw new EventRefused('push:subscribe: since must be a non-negative integer');
    }
    if (client.set.has(channel) || client.pending.has(channel)) return;
    this.ctx.limits.subscriptionsPerConnection(client.set.size + client.pending.size + 1);
    const cursor = typeof since === 'number' ? since : null;
    const admission = this.ctx.gate.subscribe(client.request, channel);
    if (!admission) return this.addChannel(client, channel, cursor);
    const token = {};
    client.pending.set(channel, token);
    admission.then(() => {
      if (client.pending.get(channel) !== token) return;
      client.pending.delete(channel);
      try {
        this.addChannel(client, channel, cursor);
      } catch (err) {
        this.refuse(client, err);
      }
    }, (err: unknown) => {
      // Cancelled meanwhile: neither a channel nor a refusal comes of it.
      if (client.pending.get(channel) !== token) return;
      client.pending.delete(channel);
      this.refuse(client, err);
    });
  }

  /** A channel admitted in band: nothing of it was sent before this point. */
  private addChannel(client: WsSubscriber, channel: string, since: number | null): void {
    if (client.released) return;
    this.ctx.limits.channels([channel]);
    this.follow(client, [{ channel, since }], true);
  }

  private refuse(client: WsSubscriber, err: unknown, event?: string): void {
    if (client.released) return;
    if (err instanceof EventRefused || err instanceof AuthorizationRefused) return this.closeClient(client, CloseCode.PolicyViolation, err.message);
    if (err instanceof LimitRefused) return this.closeClient(client, err.closeCode, err.message);
    if (err instanceof LogUnavailableError) {
      // The event was fine; the log could not take what it published. The connection and its
      // subscriptions stay: the client hears why, and may send it again (docs/PROTOCOL.md §3.12).
      client.emit('push:error', { event: event ?? null, error: err.message });
      return;
    }
    console.error('pushwire: event handler failed:', err);
    this.closeClient(client, CloseCode.InternalError, 'event handler failed');
  }

  /**
   * Judged when the current turn is over, as for HTTP streams: a burst
   * published in one go is not held against a client that reads it.
   */
  suspect(subscriber: WsSubscriber): void {
    if (this.suspects.size === 0) setImmediate(this.checkSuspects);
    this.suspects.add(subscriber);
  }

  /** Too far behind: close 1013 (try again later); the client resumes with its last id. */
  cutOff(subscriber: WsSubscriber): void {
    this.counts.cutOff.value++;
    const resume = subscriber.channel !== null && subscriber.set.size === 1 ? `since=${subscriber.set.list().next().value!.last}` : `channels=${subscriber.set.compoundCursor()}`;
    this.closeClient(subscriber, CloseCode.TryAgainLater, `too slow; resume with ${resume}`);
  }

  private closeClient(subscriber: WsSubscriber, code: number, reason: string): void {
    this.release(subscriber);
    subscriber.ws.close(code, truncateCloseReason(reason));
  }

  private release(subscriber: WsSubscriber): void {
    if (subscriber.released) return;
    subscriber.released = true;
    subscriber.pending.clear();
    this.active.delete(subscriber);
    subscriber.set.close();
  }

  /** Shutdown: every connection closed with 1001; resolves when all have closed. */
  close(): Promise<void> {
    for (const subscriber of this.active) this.release(subscriber);
    return new Promise((resolve) => this.wss.close(resolve));
  }
}

/** An upgrade refused before the handshake: its HTTP status and `{"error"}`; a hook's own fault is a 500. */
function refuseUpgrade(socket: Duplex, err: unknown): void {
  if (err instanceof HttpError) return abort(socket, err.status, err.message);
  console.error('pushwire: authorization hook failed:', err);
  abort(socket, 500, 'internal error');
}
