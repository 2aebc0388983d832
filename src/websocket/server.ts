import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, DEFAULT_MAX_MESSAGE } from '../protocol/constants.js';
import { checkUpgradeRequest, upgradeResponse } from '../protocol/handshake.js';
import { abort, destroySocket } from '../http/raw-socket.js';
import { attachSocket, WebSocket } from './websocket.js';
import { deflateSettings, negotiateServerDeflate, type PerMessageDeflateSetting } from './deflate-negotiation.js';
import type { DeflateOptions } from '../protocol/deflate-params.js';

/** The 'upgrade' listeners of WebSocketServers, and the requests one of them took. */
const pathListeners = new WeakSet<object>();
const claimed = new WeakSet<http.IncomingMessage>();
/** Per http.Server, the paths our servers take (undefined: every path), so that no upgrade is answered twice. */
const attachedPaths = new WeakMap<http.Server, Set<string | undefined>>();
/** Sockets handleUpgrade() was called with: a second call would write a second answer. */
const upgradedSockets = new WeakSet<Duplex>();

/** A refusal from verifyClient: the HTTP status and message to answer with. */
export interface Refusal { status: number; message: string }

export interface WebSocketServerOptions {
  /**
   * Attach to this server's 'upgrade' event (with `path`, only for that path). Several
   * may share one http.Server only with different paths: a second one that would take
   * the same upgrades throws.
   */
  server?: http.Server;
  /** Or create and listen on a server of our own. */
  port?: number;
  host?: string;
  /** Only upgrades for this pathname are taken (query strings are ignored). */
  path?: string;
  /** Neither: the caller routes upgrades to handleUpgrade() itself. */
  noServer?: boolean;
  /** Largest message, in bytes (default 16 MiB); larger ones close with 1009. */
  maxPayload?: number;
  /**
   * Picks a subprotocol from the names the client offered (in its order, as in ws 8);
   * a falsy answer, or a name not offered, selects none. Called only when some are offered;
   * a throw refuses the upgrade with 500.
   */
  handleProtocols?: (protocols: Set<string>, req: http.IncomingMessage) => string | false | null | undefined;
  /**
   * Origin and authentication check, sync or async. Only `true` accepts; a Refusal
   * with a 4xx/5xx status refuses with it; anything else refuses with 403, and a
   * throw or rejection with 500.
   */
  verifyClient?: (req: http.IncomingMessage) => boolean | Refusal | Promise<boolean | Refusal>;
  /**
   * Ping every this many ms and terminate peers that did not answer the previous ping (0: off).
   * Needs clientTracking: the heartbeat walks `clients`.
   */
  heartbeatInterval?: number;
  /** Keep the open connections in `clients` (default true). */
  clientTracking?: boolean;
  /** How long a closing handshake may take before the socket is destroyed. */
  closeTimeout?: number;
  /**
   * permessage-deflate (RFC 7692), negotiated when a client offers it: true for
   * the defaults, or settings (threshold, level, memLevel, window bits, context
   * takeover). Off by default.
   */
  perMessageDeflate?: boolean | DeflateOptions;
}

/** The events of a WebSocketServer and their listeners' arguments. */
export interface WebSocketServerEvents {
  connection: [ws: WebSocket, req: http.IncomingMessage];
  listening: [];
  error: [error: Error];
}

/**
 * Accepts WebSocket upgrades (RFC 6455 §4.2) and hands out WebSocket objects,
 * in the manner of ws's WebSocketServer. Events: 'connection' (ws, req), 'listening', 'error'.
 */
export class WebSocketServer extends EventEmitter<WebSocketServerEvents> {
  readonly clients = new Set<WebSocket>();
  readonly options: WebSocketServerOptions;
  private ownServer: http.Server | null = null;
  private attached: http.Server | null = null;
  private upgradeListener: ((req: http.IncomingMessage, socket: Duplex, head: Buffer) => void) | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly deflate: DeflateOptions | null;

  constructor(options: WebSocketServerOptions = {}) {
    super();
    const interval = options.heartbeatInterval ?? 0;
    // The heartbeat walks `clients`: without tracking it would ping no one.
    if (interval > 0 && options.clientTracking === false) {
      throw new TypeError('heartbeatInterval needs clientTracking (the heartbeat pings the tracked clients)');
    }
    this.options = options;
    this.deflate = deflateSettings(options.perMessageDeflate as PerMessageDeflateSetting);
    // Last of the checks that may throw: a refused server must not keep its path.
    if (options.server) claimPath(options.server, options.path);
    let server = options.server ?? null;
    if (!server && !options.noServer) {
      server = this.ownServer = http.createServer((_req, res) => {
        const body = JSON.stringify({ error: 'this server only accepts WebSocket upgrades' });
        res.writeHead(426, {
          'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body),
          Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        });
        res.end(body);
      });
      server.on('listening', () => this.emit('listening'));
      server.on('error', (err) => this.emit('error', err));
      server.listen(options.port ?? 0, options.host);
    }
    if (server) {
      this.attached = server;
      const listener = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        if (this.shouldHandle(req)) {
          claimed.add(req);
          return this.handleUpgrade(req, socket, head);
        }
        // Several of ours may share one http.Server by path: the last one refuses a request none
        // took, so it is never left hanging (unless another kind of listener may still take it).
        const all = server.listeners('upgrade');
        if (all[all.length - 1] === listener && !claimed.has(req) && all.every((l) => pathListeners.has(l))) {
          abort(socket, 400, 'no WebSocket endpoint at this path');
        }
      };
      pathListeners.add(listener);
      this.upgradeListener = listener;
      server.on('upgrade', listener);
    }
    if (interval > 0) {
      this.heartbeat = setInterval(() => this.beat(), interval);
      this.heartbeat.unref();
    }
  }

  /** The address of a server this instance listens on itself. */
  address(): ReturnType<http.Server['address']> {
    return (this.ownServer ?? this.attached)?.address() ?? null;
  }

  shouldHandle(req: http.IncomingMessage): boolean {
    if (this.options.path === undefined) return true;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    return (q === -1 ? url : url.slice(0, q)) === this.options.path;
  }

  /**
   * Completes (or refuses) the handshake on a socket taken from an 'upgrade'
   * event. `onConnection` is called with the open WebSocket, after 'connection'.
   */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, onConnection?: (ws: WebSocket, req: http.IncomingMessage) => void): void {
    if (upgradedSockets.has(socket)) {
      throw new Error('handleUpgrade() was called more than once with the same socket (two servers for one upgrade?)');
    }
    upgradedSockets.add(socket);
    if (!socket.listeners('error').includes(destroySocket)) socket.on('error', destroySocket);
    if (this.closing) return abort(socket, 503, 'server is shutting down');
    const check = checkUpgradeRequest(req);
    if (!check.ok) return abort(socket, check.status, check.message, check.headers);
    const verify = this.options.verifyClient;
    if (!verify) return this.complete(req, socket, head, check.key, check.protocols, onConnection);
    // A throw, a rejection or a `then` that throws all land in the second callback; judging never throws.
    Promise.resolve()
      .then(() => verify(req))
      .then((verdict: unknown) => {
        if (verdict === true) return this.complete(req, socket, head, check.key, check.protocols, onConnection);
        const refusal = refusalOf(verdict);
        abort(socket, refusal.status, refusal.message);
      }, () => abort(socket, 500, VERIFY_FAILED));
  }

  private complete(req: http.IncomingMessage, socket: Duplex, head: Buffer, key: string, protocols: Set<string>,
    onConnection?: (ws: WebSocket, req: http.IncomingMessage) => void): void {
    if (socket.destroyed || !socket.writable) return void socket.destroy();
    let protocol = '';
    if (protocols.size > 0 && this.options.handleProtocols) {
      let chosen;
      try {
        chosen = this.options.handleProtocols(protocols, req);
      } catch {
        return abort(socket, 500, 'subprotocol selection failed');
      }
      // §4.2.2: the server may only answer with one of the client's values.
      if (typeof chosen === 'string' && protocols.has(chosen)) protocol = chosen;
    }
    const maxPayload = this.options.maxPayload ?? DEFAULT_MAX_MESSAGE;
    const extensions = negotiateServerDeflate(req.headers['sec-websocket-extensions'], this.deflate, maxPayload);
    if (!extensions.ok) return abort(socket, 400, extensions.message);
    socket.write(upgradeResponse(key, protocol, extensions.extensions));
    const ws = new WebSocket({
      isServer: true,
      maxPayload,
      closeTimeout: this.options.closeTimeout ?? 5000,
    });
    attachSocket(ws, socket, head, protocol, extensions.extensions, extensions.deflate);
    if (this.options.clientTracking !== false) {
      this.clients.add(ws);
      ws.on('close', () => this.clients.delete(ws));
    }
    this.emit('connection', ws, req);
    onConnection?.(ws, req);
  }

  private beat(): void {
    for (const ws of this.clients) {
      if (!ws.isAlive) {
        ws.terminate();
        continue;
      }
      ws.isAlive = false;
      ws.ping();
    }
  }

  /**
   * Stops accepting, closes every connection with 1001 (going away) and calls
   * back once all are closed (each has closeTimeout to finish its handshake).
   * With clientTracking off the server knows no connections: closing them is the caller's.
   */
  close(cb?: () => void): void {
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.attached && this.upgradeListener) {
      this.attached.off('upgrade', this.upgradeListener);
      attachedPaths.get(this.attached)?.delete(this.options.path);
      this.upgradeListener = null;
    }
    const pending = [...this.clients].filter((ws) => ws.readyState !== WebSocket.CLOSED);
    let left = pending.length + (this.ownServer ? 1 : 0);
    const done = () => { if (--left === 0) cb?.(); };
    if (left === 0) process.nextTick(() => cb?.());
    for (const ws of pending) {
      ws.once('close', done);
      ws.close(CloseCode.GoingAway, 'server shutting down');
    }
    if (this.ownServer) this.ownServer.close(done);
  }
}

const VERIFY_FAILED = 'client verification failed';

/**
 * One http.Server, one answer per upgrade: a server without a path takes every
 * upgrade, so it cannot share; servers with paths share if the paths differ.
 */
function claimPath(server: http.Server, path: string | undefined): void {
  let paths = attachedPaths.get(server);
  if (!paths) attachedPaths.set(server, paths = new Set());
  if (paths.has(undefined) || paths.has(path) || (path === undefined && paths.size > 0)) {
    throw new Error('a WebSocketServer is already attached to this http.Server ' +
      (path === undefined ? '' : `for path ${JSON.stringify(path)} `) +
      '(a server without a path takes every upgrade): give each a different path, or route with noServer and handleUpgrade()');
  }
  paths.add(path);
}

/**
 * What verifyClient's answer other than true means: a Refusal with an HTTP
 * error status (4xx, 5xx) gets that status; anything else is a plain 403.
 * A getter that throws is a failed verification (500).
 */
function refusalOf(verdict: unknown): Refusal {
  try {
    if (typeof verdict === 'object' && verdict !== null) {
      const { status, message } = verdict as Partial<Refusal>;
      if (Number.isInteger(status) && status! >= 400 && status! <= 599) {
        return { status: status!, message: typeof message === 'string' ? message : 'refused' };
      }
    }
    return { status: 403, message: 'forbidden' };
  } catch {
    return { status: 500, message: VERIFY_FAILED };
  }
}
