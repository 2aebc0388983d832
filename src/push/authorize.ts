import type http from 'node:http';
import { HttpError } from '../http/respond.js';
import type { PushMetrics } from './push-metrics.js';

/** The request a verdict is about, whatever the technique ('socketio': a Socket.IO connection's handshake). */
export type Technique = 'poll' | 'longpoll' | 'iframe' | 'sse' | 'websocket' | 'emit' | 'socketio';

/**
 * What an authorization hook sees (docs/PROTOCOL.md §6.4): the HTTP request
 * that opened the connection (headers, cookies, the query with its token),
 * and a `data` object of its own, kept for the whole connection, where the
 * `connection` hook can put who the client is for the later verdicts.
 */
export class PushRequest {
  /** Free for the hooks: set by `connection`, read by `subscribe` and `emit` (as Socket.IO's `socket.data`). */
  readonly data: Record<string, unknown> = {};
  private parsedCookies: Record<string, string> | null = null;

  constructor(
    readonly req: http.IncomingMessage,
    readonly url: URL,
    readonly technique: Technique,
  ) {}

  /** The Cookie header as name → value (first one wins, values percent-decoded where they can be). */
  get cookies(): Record<string, string> {
    return (this.parsedCookies ??= parseCookies(this.req.headers.cookie));
  }
}

/** A verdict: true lets it through, false refuses it; a hook may also throw Forbidden to say why. */
export type Verdict = boolean | Promise<boolean>;

/**
 * The embedding application's say on who gets what, as Socket.IO's
 * middleware and Centrifugo's channel tokens. Every hook is optional
 * (absent: allowed) and may answer at once or with a promise. A refused
 * connection or subscription gets 403 `{"error"}` (on a WebSocket already
 * open, close code 1008) and nothing of its channels.
 */
export interface PushAuthorizer {
  /** Once per connection (per request over HTTP, per Socket.IO connection), before anything else. */
  connection?(request: PushRequest): Verdict;
  /** Per channel subscribed: each of `channels=`, and each in-band `push:subscribe`. */
  subscribe?(request: PushRequest, channel: string): Verdict;
  /** Per event a client sends (a WebSocket frame or `POST /push/emit`), before its handlers run. */
  emit?(request: PushRequest, event: string, data: unknown): Verdict;
}

/** Thrown (or rejected with) by a hook to refuse with a message of its own. */
export class Forbidden extends Error {
  constructor(message = 'forbidden') {
    super(message);
    this.name = 'Forbidden';
  }
}

/** A refusal: the status to answer (403) and why. */
export class AuthorizationRefused extends HttpError {
  constructor(message: string) {
    super(403, message);
    this.name = 'AuthorizationRefused';
  }
}

export type Action = 'connection' | 'subscribe' | 'emit';

/**
 * Runs the hooks. Each check answers `void` when everything is allowed at
 * once (no hook, or hooks that answer synchronously): the caller goes on in
 * the same turn, as without a hook. Otherwise a promise of the same. A
 * refusal is thrown (or rejected) as AuthorizationRefused, counted.
 */
export class Gate {
  constructor(private readonly authorizer: PushAuthorizer | undefined, private readonly metrics: PushMetrics) {}

  get active(): boolean { return this.authorizer !== undefined; }

  /** The connection and each channel, in that order; stops at the first refusal. */
  admit(request: PushRequest, channels: readonly string[]): void | Promise<void> {
    const auth = this.authorizer;
    if (!auth) return;
    if (auth.connection) {
      const verdict = this.call('connection', () => auth.connection!(request));
      if (verdict) return verdict.then(() => this.channels(request, channels, 0));
    }
    return this.channels(request, channels, 0);
  }

  /** One channel more, on a connection already admitted (in-band `push:subscribe`). */
  subscribe(request: PushRequest, channel: string): void | Promise<void> {
    return this.channels(request, [channel], 0);
  }

  /** An event from a client, before its handlers run. */
  emit(request: PushRequest, event: string, data: unknown): void | Promise<void> {
    const hook = this.authorizer?.emit;
    if (!hook) return;
    return this.call('emit', () => hook.call(this.authorizer, request, event, data));
  }

  private channels(request: PushRequest, channels: readonly string[], from: number): void | Promise<void> {
    const hook = this.authorizer?.subscribe;
    if (!hook) return;
    for (let i = from; i < channels.length; i++) {
      const channel = channels[i]!;
      const verdict = this.call('subscribe', () => hook.call(this.authorizer, request, channel), channel);
      if (verdict) return verdict.then(() => this.channels(request, channels, i + 1));
    }
  }

  /** One hook: void when it allowed at once, a promise when it answers later; throws when it refused. */
  private call(action: Action, hook: () => Verdict, channel?: string): void | Promise<void> {
    let verdict: Verdict;
    try {
      verdict = hook();
    } catch (err) {
      throw this.refusal(action, err, channel);
    }
    if (verdict === true) return;
    if (verdict === false || typeof (verdict as Promise<boolean>)?.then !== 'function') throw this.refusal(action, verdict, channel);
    return (verdict as Promise<boolean>).then(
      (v) => { if (v !== true) throw this.refusal(action, v, channel); },
      (err: unknown) => { throw this.refusal(action, err, channel); },
    );
  }

  /** A Forbidden (or false) becomes a counted 403; anything else a hook threw is a fault, passed on. */
  private refusal(action: Action, cause: unknown, channel?: string): unknown {
    if (cause instanceof Error && !(cause instanceof Forbidden)) return cause;
    this.metrics.authorizationRefused(action);
    if (cause instanceof Forbidden) return new AuthorizationRefused(cause.message);
    if (action === 'subscribe') return new AuthorizationRefused(`not allowed to subscribe to ${channel}`);
    return new AuthorizationRefused(action === 'emit' ? 'not allowed to send this event' : 'not allowed to connect');
  }
}

/** `a=1; b=2` → {a: '1', b: '2'}; malformed pairs are skipped. */
export function parseCookies(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = Object.create(null);
  if (!header) return cookies;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim();
    if (name === '' || name in cookies) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      cookies[name] = decodeURIComponent(value);
    } catch {
      cookies[name] = value;
    }
  }
  return cookies;
}

/**
 * Goes on with `then` once admitted: in the same turn when the verdict was
 * immediate, else when it comes, unless the client left meanwhile (`gone`).
 * The promise (if any) is for the router, which answers a refusal.
 */
export function whenAdmitted(admission: void | Promise<void>, gone: () => boolean, then: () => void | Promise<void>): void | Promise<void> {
  if (!admission) return then();
  return admission.then(() => (gone() ? undefined : then()));
}

/** The channels of a subscription's requests, for the gate. */
export function channelNames(requests: readonly { readonly channel: string }[]): string[] {
  return requests.map((r) => r.channel);
}
