import type http from 'node:http';
import { HttpError, readJson } from '../http/respond.js';
import type { Router } from '../http/router.js';
import { PushRequest } from './authorize.js';
import { RESERVED_PREFIX, type PushMessage } from './message.js';
import type { PushContext } from './settings.js';

/**
 * Thrown by an event handler to refuse what a client sent: the client's
 * WebSocket is closed with 1008, or its `POST /push/emit` gets 400.
 */
export class EventRefused extends Error {
  constructor(message = 'event refused') {
    super(message);
    this.name = 'EventRefused';
  }
}

export type Transport = 'websocket' | 'http';

/**
 * The server's handle on one connected client, whatever its technique: what
 * a handler gets beside the event's data, as in Socket.IO's `socket`.
 */
export interface PushClient {
  /** Unique within this process. */
  readonly id: number;
  /** 'websocket': a /push/ws connection; 'http': one `POST /push/emit` request. */
  readonly transport: Transport;
  /** The channel a WebSocket client opened with (`channel=C`); null over HTTP, or when opened with `channels=` or none. */
  readonly channel: string | null;
  /** Every channel a WebSocket client is subscribed to now (docs/PROTOCOL.md §3.11); none over HTTP. */
  readonly channels?: readonly string[];
  /**
   * The request that opened the connection (the upgrade, or the POST), with
   * `data` as the authorization hooks left it: who the client is
   * (docs/PROTOCOL.md §6.4).
   */
  readonly request: PushRequest;
  /**
   * Sends `{"event": E, "data": D}` to this client alone. It has no id: it is
   * not part of any channel, so it is neither retained nor resumable.
   * WebSocket: one text frame. HTTP: collected into the 202 answer as
   * `{"replies": [...]}` (only while the handler runs). False when it could
   * not be sent (the client is gone, or the 202 went out already).
   */
  emit(event: string, data: unknown): boolean;
  /**
   * Publishes on a channel: every subscriber of it gets the message, this
   * client too if subscribed. Resolves with the message once it has its id;
   * rejects with LogUnavailableError when a shared log cannot be reached.
   * Return (or await) it from the handler: the client then hears of the
   * failure (a 503, or a `push:error` event on its WebSocket).
   */
  publish(channel: string, event: string, data: unknown): Promise<PushMessage>;
}

export type EventHandler = (data: unknown, client: PushClient) => void | Promise<void>;

/** An event as a client sends it: `{"event": "<name>", "data": <any>}`. */
export interface ClientEvent {
  event: string;
  data: unknown;
}

/** docs/PROTOCOL.md §3.8: not an object, `event` not a non-empty string, or `data` missing: malformed. */
export function checkClientEvent(value: unknown): ClientEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new EventRefused('event must be a JSON object');
  const { event } = value as { event?: unknown };
  if (typeof event !== 'string' || event.length === 0) throw new EventRefused('"event" must be a non-empty string');
  if (!Object.prototype.hasOwnProperty.call(value, 'data')) throw new EventRefused('"data" is missing');
  return { event, data: (value as { data: unknown }).data };
}

export function parseClientEvent(text: string): ClientEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new EventRefused('event is not valid JSON');
  }
  return checkClientEvent(value);
}

/** The events clients send, by name. An event nobody handles is accepted and ignored. */
export class EventHandlers {
  private readonly handlers = new Map<string, EventHandler[]>();
  private nextClientId = 1;

  on(event: string, handler: EventHandler): void {
    if (typeof event !== 'string' || event.length === 0) throw new TypeError('event must be a non-empty string');
    const list = this.handlers.get(event);
    if (list) list.push(handler);
    else this.handlers.set(event, [handler]);
  }

  off(event: string, handler?: EventHandler): void {
    const list = this.handlers.get(event);
    if (!list) return;
    const kept = handler ? list.filter((h) => h !== handler) : [];
    if (kept.length > 0) this.handlers.set(event, kept);
    else this.handlers.delete(event);
  }

  clientId(): number {
    return this.nextClientId++;
  }

  /**
   * Runs the event's handlers in order. Resolves when they are done; rejects
   * with EventRefused when one refuses, or with whatever else one threw.
   */
  dispatch(event: ClientEvent, client: PushClient): void | Promise<void> {
    const list = this.handlers.get(event.event);
    if (!list) return;
    for (let i = 0; i < list.length; i++) {
      const result = list[i]!(event.data, client);
      // An async handler: the rest wait for it, so a refusal stops them all.
      if (result && typeof (result as Promise<void>).then === 'function') {
        return (async () => {
          await result;
          for (let j = i + 1; j < list.length; j++) await list[j]!(event.data, client);
        })();
      }
    }
  }
}

/** The sender of one `POST /push/emit`; emit() replies go into the 202 answer. */
class HttpClient implements PushClient {
  readonly transport = 'http';
  readonly channel = null;
  readonly channels: readonly string[] = [];
  readonly replies: ClientEvent[] = [];
  answered = false;

  constructor(
    readonly id: number,
    private readonly publisher: (channel: string, event: string, data: unknown) => Promise<PushMessage>,
    readonly request: PushRequest,
  ) {}

  emit(event: string, data: unknown): boolean {
    if (this.answered) return false;
    this.replies.push({ event, data });
    return true;
  }

  publish(channel: string, event: string, data: unknown): Promise<PushMessage> {
    return this.publisher(channel, event, data);
  }
}

/**
 * `POST /push/emit` with `{"event", "data"}`: 202, or 400 for a malformed or
 * refused event, 403 when the authorization hook refuses the connection
 * (before the body is read) or the event, 413 past the size bound, 503 when
 * what its handler published could not reach a shared log
 * (LogUnavailableError is an HttpError 503).
 */
export function mountEmit(
  router: Router, ctx: PushContext, handlers: EventHandlers,
  publisher: (channel: string, event: string, data: unknown) => Promise<PushMessage>,
): void {
  router.post('/push/emit', async (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const request = new PushRequest(req, url, 'emit');
    await ctx.gate.admit(request, []);
    const body = await readJson(req, ctx.settings.maxEmitBody);
    const client = new HttpClient(handlers.clientId(), publisher, request);
    try {
      const event = checkClientEvent(body);
      // push:subscribe and push:unsubscribe belong to a WebSocket; no other push: event exists.
      if (event.event.startsWith(RESERVED_PREFIX)) throw new EventRefused(`event names beginning with ${RESERVED_PREFIX} are reserved`);
      await ctx.gate.emit(request, event.event, event.data);
      await handlers.dispatch(event, client);
    } catch (err) {
      if (err instanceof EventRefused) throw new HttpError(400, err.message);
      throw err;
    } finally {
      client.answered = true;
    }
    const text = client.replies.length > 0 ? JSON.stringify({ accepted: true, replies: client.replies }) : '{"accepted":true}';
    res.writeHead(202, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
    res.end(text);
  });
}
