import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Router } from '../http/router.js';
import { MemoryChannelLog, type ChannelLog } from '../push/channel-log.js';
import type { AsyncChannelLog } from '../push/log.js';
import type { BroadcastOperator } from './broadcast.js';
import { ChannelAdapter } from './channel-adapter.js';
import { SocketIoClient } from './client.js';
import { EngineServer, type EngineOptions } from './engine-server.js';
import { mountEngineEndpoint, type EngineEndpoint } from './mount.js';
import { Namespace, type Middleware } from './namespace.js';
import { SessionStore, type RecoveryOptions } from './recovery.js';
import { ClientScript } from './client-script.js';
import type { Socket } from './socket.js';

export interface ServerOptions extends EngineOptions {
  /** Where Engine.IO answers (default "/socket.io"); the browser client is at `${path}/socket.io.js`. */
  path?: string;
  /** A connection that joins no namespace within this long is closed (default 45 s). */
  connectTimeout?: number;
  /**
   * Lets a client that was cut come back with its id, rooms and data, and
   * get the events it missed (socket.recovered), as socket.io 4.6's option of
   * the same name. Off by default, as in socket.io.
   */
  connectionStateRecovery?: boolean | RecoveryOptions;
  /** The channel log rooms map onto (default: a log of its own, in memory); a shared log turns recovery into a fresh start. */
  log?: ChannelLog | AsyncChannelLog;
  /** Serve the browser client at `${path}/socket.io.js` (default true). */
  serveClient?: boolean;
}

/**
 * A Socket.IO v5 server over Engine.IO v4, in the shape of socket.io's
 * `Server` (docs/PROTOCOL.md §5): `io.on('connection', (socket) => …)`,
 * `io.of(name)`, `io.use(mw)`, `io.emit`, `io.to(room).emit`. Rooms map onto
 * channels of the channel log, so every event sent to a room is an event of
 * that channel for every push technique, and back.
 *
 *     const io = new Server(httpServer);
 *     io.on('connection', (socket) => socket.on('chat message', (msg) => io.emit('chat message', msg)));
 */
export class Server extends EventEmitter implements EngineEndpoint {
  readonly engine: EngineServer;
  /** The main namespace, "/". */
  readonly sockets: Namespace;
  /** The Engine.IO path, with its trailing slash. */
  readonly path: string;
  readonly connectTimeout: number;
  /** @internal */
  readonly channels: ChannelAdapter;
  /** @internal null when connection state recovery is off. */
  readonly recovery: Required<RecoveryOptions> | null;
  /** @internal */
  readonly sessionStore: SessionStore | null;
  private readonly nsps = new Map<string, Namespace>();
  private readonly clientScript: ClientScript | null;
  private readonly attached: Array<() => void> = [];

  constructor(server?: http.Server | ServerOptions, options: ServerOptions = {}) {
    super();
    let httpServer: http.Server | undefined;
    if (server !== undefined && typeof (server as http.Server).listen === 'function') httpServer = server as http.Server;
    else if (server !== undefined) options = server as ServerOptions;
    this.engine = new EngineServer(options);
    this.path = `${(options.path ?? '/socket.io').replace(/\/+$/, '')}/`;
    this.connectTimeout = options.connectTimeout ?? 45_000;
    this.channels = new ChannelAdapter(options.log ?? new MemoryChannelLog());
    const recovery = options.connectionStateRecovery;
    this.recovery = recovery ? {
      maxDisconnectionDuration: 2 * 60_000,
      skipMiddlewares: true,
      ...(typeof recovery === 'object' ? recovery : {}),
    } : null;
    this.sessionStore = this.recovery !== null ? new SessionStore(this.recovery.maxDisconnectionDuration) : null;
    this.clientScript = options.serveClient === false ? null : new ClientScript();
    this.engine.onConnection = (session) => { new SocketIoClient(this, session); };
    this.sockets = this.of('/');
    if (httpServer !== undefined) this.attach(httpServer);
  }

  /** The namespace of this name, created on first use. */
  of(name: string): Namespace {
    const key = name.startsWith('/') ? name : `/${name}`;
    let nsp = this.nsps.get(key);
    if (nsp === undefined) this.nsps.set(key, (nsp = new Namespace(this, key)));
    return nsp;
  }

  /** @internal Whether a client may connect to this namespace (only declared ones). */
  _hasNamespace(name: string): boolean {
    return this.nsps.has(name);
  }

  /** 'connection' and 'connect' are the main namespace's, as in socket.io. */
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    if (event === 'connection' || event === 'connect') this.sockets.on(event, listener);
    else super.on(event, listener);
    return this;
  }

  use(fn: Middleware): this {
    this.sockets.use(fn);
    return this;
  }

  to(room: string | readonly string[]): BroadcastOperator {
    return this.sockets.to(room);
  }

  in(room: string | readonly string[]): BroadcastOperator {
    return this.sockets.in(room);
  }

  except(room: string | readonly string[]): BroadcastOperator {
    return this.sockets.except(room);
  }

  get volatile(): BroadcastOperator {
    return this.sockets.volatile;
  }

  get local(): BroadcastOperator {
    return this.sockets.local;
  }

  /** Sends to every socket of the main namespace. */
  override emit(event: string | symbol, ...args: any[]): boolean {
    return this.sockets.emit(event, ...args);
  }

  send(...args: unknown[]): this {
    this.sockets.send(...args);
    return this;
  }

  fetchSockets(): Promise<Socket[]> {
    return this.sockets.fetchSockets();
  }

  socketsJoin(room: string | readonly string[]): void {
    this.sockets.socketsJoin(room);
  }

  socketsLeave(room: string | readonly string[]): void {
    this.sockets.socketsLeave(room);
  }

  disconnectSockets(close = false): void {
    this.sockets.disconnectSockets(close);
  }

  /** Engine.IO requests, for whoever routes them here. */
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    this.engine.handleRequest(req, res, url);
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.engine.handleUpgrade(req, socket, head);
  }

  /** Mounts Engine.IO and the browser client on a pushwire Router. */
  mount(router: Router): this {
    mountEngineEndpoint(router, this.path, this);
    if (this.clientScript !== null) {
      const script = this.clientScript;
      router.get(`${this.path}socket.io.js`, (req, res) => script.send(req, res));
    }
    return this;
  }

  /**
   * Takes the Engine.IO path and the client script of a plain http.Server, as
   * socket.io does: other requests go to the listeners it already had.
   */
  attach(server: http.Server): this {
    const previous = server.listeners('request').slice() as Array<(req: http.IncomingMessage, res: http.ServerResponse) => void>;
    server.removeAllListeners('request');
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === this.path) return this.handleRequest(req, res, url);
      if (this.clientScript !== null && url.pathname === `${this.path}socket.io.js` && (req.method === 'GET' || req.method === 'HEAD')) {
        return this.clientScript.send(req, res);
      }
      for (const listener of previous) listener.call(server, req, res);
    };
    const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const q = (req.url ?? '/').indexOf('?');
      const pathname = q === -1 ? req.url ?? '/' : req.url!.slice(0, q);
      if (pathname === this.path) this.handleUpgrade(req, socket, head);
      // Not ours: left to the server's other 'upgrade' listeners; with none, nobody would answer.
      else if (server.listeners('upgrade').length === 1) socket.destroy();
    };
    server.on('request', onRequest);
    server.on('upgrade', onUpgrade);
    server.once('close', () => this.close());
    this.attached.push(() => {
      server.off('request', onRequest);
      server.off('upgrade', onUpgrade);
      for (const listener of previous) server.on('request', listener);
    });
    return this;
  }

  /** Disconnects every socket ('server shutting down'), closes every session and detaches. */
  close(): Promise<void> {
    for (const nsp of this.nsps.values()) nsp._close();
    this.engine.close();
    this.sessionStore?.close();
    for (const detach of this.attached.splice(0)) detach();
    return Promise.resolve();
  }
}
