import http from 'node:http';
import type { Socket } from 'node:net';
import type { ServerConfig } from './config.js';
import { Router } from './http/router.js';
import { sendError } from './http/respond.js';
import { mountEcho } from './echo.js';
import { mountPush, type PushApi, type PushOptions } from './push/index.js';
import { abort } from './websocket/server.js';
import { destroySocket } from './websocket/websocket.js';
import { httpErrorResponse } from './protocol/handshake.js';
import { mountApp, mountSocketIoChat } from './app/index.js';
import { Server as SocketIoServer, type ServerOptions as SocketIoOptions } from './socketio/index.js';

/** Inactivity (no byte either way) after which an HTTP connection is dropped. */
const IDLE_TIMEOUT = 75_000;

/** Something that holds connections open and must let go of them on shutdown. */
export interface Closable {
  close(): void | Promise<void>;
}

export interface PushwireServer {
  readonly http: http.Server;
  readonly router: Router;
  readonly config: ServerConfig;
  /** The push layer: publish on channels, handle client events. */
  readonly push: PushApi;
  /** Socket.IO at /socket.io/, its rooms on the push layer's channels (docs/PROTOCOL.md §5). */
  readonly io: SocketIoServer;
  /** Starts listening; resolves with the real address. */
  listen(): Promise<{ host: string; port: number }>;
  /** CONTRACT.md shutdown: stop accepting, close every client properly, resolve when done (at most ~4 s). */
  shutdown(): Promise<void>;
}

/** Programmatic options beyond the command line of CONTRACT.md. */
export interface PushwireServerOptions {
  /** Refuse every WebSocket upgrade with 403, as a proxy that does not pass them would (tests of the client's fallback). */
  refuseUpgrades?: boolean;
  /** Where the demo's start and stop lines go (default stderr). */
  log?: (line: string) => void;
  /** Drop an HTTP connection silent both ways for this long (default 75 s). */
  idleTimeout?: number;
  /** Tuning of the push layer (heartbeats, bounds, retention); dataDir and maxMessage come from the config. */
  push?: PushOptions;
  /** Tuning of Socket.IO (pingInterval, pingTimeout, maxHttpBufferSize, connectTimeout, recovery). */
  socketio?: Omit<SocketIoOptions, 'log' | 'path'>;
}

/** The whole server of CONTRACT.md on one http.Server. */
export function createPushwireServer(config: ServerConfig, options: PushwireServerOptions = {}): PushwireServer {
  const router = new Router();
  const closables: Closable[] = [];
  const sockets = new Set<Socket>();
  // One listener for every socket (not a closure each: idle connections are many).
  const forgetSocket = function (this: Socket) { sockets.delete(this); };
  let stopping = false;
  let shutdown: Promise<void> | null = null;

  const server = http.createServer({
    // Checked below, to answer with a JSON error like every other refusal.
    requireHostHeader: false,
    // A client gets this long to send its request head...
    headersTimeout: 30_000,
    connectionsCheckingInterval: 5_000,
  }, (req, res) => {
    if (stopping) {
      res.setHeader('Connection', 'close');
      return sendError(res, 503, 'server is shutting down');
    }
    if (req.headers.host === undefined && req.httpVersion === '1.1') return sendError(res, 400, 'missing Host header');
    router.handleRequest(req, res);
  });
  // ...and a connection that stays silent both ways this long is dropped: longer than
  // the longest long poll (60 s) and the stream heartbeats (25 s); WebSockets turn it off.
  server.setTimeout(options.idleTimeout ?? IDLE_TIMEOUT);
  server.on('upgrade', (req, socket, head) => {
    if (options.refuseUpgrades) {
      socket.on('error', destroySocket);
      return abort(socket, 403, 'WebSocket upgrades are refused here');
    }
    router.handleUpgrade(req, socket, head);
  });
  // CONNECT (a proxy tunnel request) is not for us: a JSON 405, not a silent close.
  server.on('connect', (_req, socket: Socket) => {
    socket.on('error', destroySocket);
    abort(socket, 405, 'CONNECT is not supported', { Allow: 'GET, HEAD, POST' });
  });
  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', forgetSocket);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return void socket.destroy();
    if (err.code === 'HPE_HEADER_OVERFLOW') socket.end(httpErrorResponse(431, 'request headers too large'));
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') socket.end(httpErrorResponse(408, 'request took too long'));
    else socket.end(httpErrorResponse(400, 'bad HTTP request'));
  });


  const echo = mountEcho(router, config.maxMessage);
  closables.push({ close: () => new Promise<void>((resolve) => echo.close(resolve)) });

  const push = mountPush(router, { dataDir: config.dataDir, maxMessage: config.maxMessage, ...options.push });
  closables.push(push);

  // Socket.IO: rooms are channels of the same log, and a cut client recovers what it missed.
  const io = new SocketIoServer({
    log: push.log,
    connectionStateRecovery: true,
    maxHttpBufferSize: Math.min(config.maxMessage, 1e6),
    ...options.socketio,
  }).mount(router);
  closables.push(io);

  // The demo (issue 4): the page, /push.js, /api/registrations and the chat.
  const app = mountApp(router, push, config, options.log ? { log: options.log } : {});
  closables.push(app);
  mountSocketIoChat(io, push);

  return {
    http: server,
    router,
    config,
    push,
    io,
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          const address = server.address();
          const port = typeof address === 'object' && address ? address.port : config.port;
          resolve({ host: config.host, port });
        });
      });
    },
    shutdown() {
      // A second call (SIGTERM after SIGINT) waits for the same shutdown.
      return (shutdown ??= (async () => {
        stopping = true;
        server.close();
        server.closeIdleConnections();
        const closed = Promise.all(closables.map((c) => c.close()));
        const deadline = new Promise((resolve) => setTimeout(resolve, 4000).unref());
        await Promise.race([closed, deadline]);
        for (const socket of sockets) socket.destroy();
      })());
    },
  };
}
