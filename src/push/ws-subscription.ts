import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode } from '../protocol/constants.js';
import { truncateCloseReason } from '../protocol/close.js';
import { HttpError, requestUrl } from '../http/respond.js';
import type { Router } from '../http/router.js';
import { abort, WebSocketServer } from '../websocket/server.js';
import { WebSocket } from '../websocket/websocket.js';
import type { Subscriber } from './channel-log.js';
import { EventRefused, parseClientEvent, type EventHandlers, type PushClient } from './event-api.js';
import { dataToJson, gapMessage, type PushMessage } from './message.js';
import { channelParam, sinceParam } from './params.js';
import type { PushContext } from './settings.js';

type Publisher = (channel: string, event: string, data: unknown) => PushMessage;

/** One `/push/ws` connection: a channel subscriber and a client that sends events. */
class WsSubscriber implements Subscriber, PushClient {
  readonly transport = 'websocket';
  lastSent = 0;
  released = false;

  constructor(
    private readonly owner: WsSubscriptions,
    readonly ws: WebSocket,
    readonly id: number,
    readonly channel: string,
  ) {}

  deliver(message: PushMessage): void {
    if (message.id <= this.lastSent) return;
    this.lastSent = message.id;
    // The frame was built once for every subscriber (and compressed once per deflate setting).
    this.ws.sendPrepared(message.prepared());
    if (this.ws.bufferedAmount > this.owner.maxQueued) this.owner.suspect(this);
  }

  emit(event: string, data: unknown): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    if (typeof event !== 'string' || event.length === 0) throw new TypeError('event must be a non-empty string');
    this.ws.send(`{"event":${JSON.stringify(event)},"data":${dataToJson(data)}}`);
    return true;
  }

  publish(channel: string, event: string, data: unknown): PushMessage {
    return this.owner.publisher(channel, event, data);
  }
}

/**
 * WebSocket subscription, `GET /push/ws?channel=C&since=N` with an upgrade:
 * each message one text frame holding the message object; the client sends
 * events as text frames `{"event", "data"}`.
 */
export class WsSubscriptions {
  private readonly wss: WebSocketServer;
  private readonly active = new Set<WsSubscriber>();
  readonly maxQueued: number;
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
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.settings.maxMessage,
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

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    let channel: string;
    let since: number;
    try {
      const url = requestUrl(req.url);
      channel = channelParam(url);
      since = sinceParam(url, this.ctx.log, channel);
    } catch (err) {
      if (err instanceof HttpError) return abort(socket, err.status, err.message);
      throw err;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, channel, since));
  }

  private attach(ws: WebSocket, channel: string, since: number): void {
    const subscriber = new WsSubscriber(this, ws, this.handlers.clientId(), channel);
    const read = this.ctx.log.read(channel, since);
    if (read.gap) {
      subscriber.lastSent = read.last;
      ws.sendFrame(gapMessage(channel, read.last).frame());
    } else {
      subscriber.lastSent = since;
      for (const message of read.messages) subscriber.deliver(message);
    }
    ws.on('close', () => this.release(subscriber));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(subscriber, data, isBinary));
    if (subscriber.released || ws.readyState !== WebSocket.OPEN) return;
    this.active.add(subscriber);
    this.ctx.log.subscribe(channel, subscriber);
  }

  private receive(client: WsSubscriber, data: Buffer, isBinary: boolean): void {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    let result: void | Promise<void>;
    try {
      if (isBinary) throw new EventRefused('events are JSON text frames');
      result = this.handlers.dispatch(parseClientEvent(data.toString('utf8')), client);
    } catch (err) {
      return this.refuse(client, err);
    }
    if (result) result.catch((err: unknown) => this.refuse(client, err));
  }

  private refuse(client: WsSubscriber, err: unknown): void {
    if (err instanceof EventRefused) return this.closeClient(client, CloseCode.PolicyViolation, err.message);
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
    this.closeClient(subscriber, CloseCode.TryAgainLater, `too slow; resume with since=${subscriber.lastSent}`);
  }

  private closeClient(subscriber: WsSubscriber, code: number, reason: string): void {
    this.release(subscriber);
    subscriber.ws.close(code, truncateCloseReason(reason));
  }

  private release(subscriber: WsSubscriber): void {
    if (subscriber.released) return;
    subscriber.released = true;
    if (this.active.delete(subscriber)) this.ctx.log.unsubscribe(subscriber.channel, subscriber);
  }

  /** Shutdown: every connection closed with 1001; resolves when all have closed. */
  close(): Promise<void> {
    for (const subscriber of this.active) this.release(subscriber);
    return new Promise((resolve) => this.wss.close(resolve));
  }
}
