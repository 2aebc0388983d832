import http from 'node:http';
import type { Socket } from 'node:net';
import { OPERATION_DEFAULTS, type ServerConfig } from './config.js';
import { Router } from './http/router.js';
import { sendError } from './http/respond.js';
import { mountEcho } from './echo.js';
import { AuthorizationRefused, mountPush, PUSH_DEFAULTS, type PushApi, type PushOptions } from './push/index.js';
import { abort, destroySocket, httpErrorResponse } from './http/raw-socket.js';
import type { AsyncChannelLog } from './push/log.js';
import { mountApp, mountSocketIoChat } from './app/index.js';
import { ConnectionGuard } from './http/connection-guard.js';
import { parseAllowedOrigins } from './http/origin.js';
import { parseAllowedHosts } from './http/hosts.js';
import { MetricsRegistry } from './metrics/registry.js';
import { HttpMetrics } from './metrics/http-metrics.js';
import { maxFileCount, registerProcessMetrics } from './metrics/process-metrics.js';
import { registerPushMetrics, serveMetrics } from './metrics/endpoint.js';
import { Server as SocketIoServer, type ServerOptions as SocketIoOptions } from './socketio/index.js';

/** File descriptors kept free of connections by the default connection limit (journal, files, zlib, DNS). */
const FD_RESERVE = 256;
/** The default connection limit where the open-file limit cannot be read. */
const FALLBACK_MAX_CONNECTIONS = 10_000;
/** How often Node checks its own headersTimeout: a backstop behind our per-connection timer. */
const CONNECTIONS_CHECKING_INTERVAL = 5_000;

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
  /** Served at GET /metrics; layers register their own counters and gauges here. */
  readonly metrics: MetricsRegistry;
  /** The limits in force (the defaults resolved). */
  readonly limits: { maxConnections: number; maxConnectionsPerIp: number; headersTimeout: number; idleTimeout: number };
  /** Socket.IO at /socket.io/, its rooms on the push layer's channels (docs/PROTOCOL.md §5). */
  readonly io: SocketIoServer;
  /** Starts listening; resolves with the real address. */
  listen(): Promise<{ host: string; port: number }>;
  /** The shutdown of docs/PROTOCOL.md §7: stop accepting, close every client properly, resolve when done (at most ~4 s). */
  shutdown(): Promise<void>;
}

/** Programmatic options beyond the command line (docs/PROTOCOL.md §7). */
export interface PushwireServerOptions {
  /** Refuse every WebSocket upgrade with 403, as a proxy that does not pass them would (tests of the client's fallback). */
  refuseUpgrades?: boolean;
  /** Where the demo's start and stop lines go (default stderr). */
  log?: (line: string) => void;
  /** Drop an HTTP connection silent both ways for this long (default: config.idleTimeout, 75 s). */
  idleTimeout?: number;
  /** Node's keepAliveTimeout: an idle kept-alive connection is closed after this long (default 5 s). */
  keepAliveTimeout?: number;
  /**
   * The push layer: its authorization hook (`authorize`), limits, heartbeats
   * and retention; dataDir and maxMessage come from the config, metrics go
   * to this server's GET /metrics.
   */
  push?: PushOptions;
  /**
   * A shared channel log (RedisChannelLog, `--redis`), owned and closed by the
   * caller: every technique, Socket.IO and the demo run on it
   * (docs/PROTOCOL.md §3.12). Default: the in-memory log.
   */
  channelLog?: AsyncChannelLog;
  /** Tuning of Socket.IO (pingInterval, pingTimeout, maxHttpBufferSize, connectTimeout, recovery). */
  socketio?: Omit<SocketIoOptions, 'log' | 'path'>;
}

/** The whole server of docs/PROTOCOL.md on one http.Server. */
export function createPushwireServer(config: ServerConfig, options: PushwireServerOptions = {}): PushwireServer {
  const router = new Router();
  const closables: Closable[] = [];
  let shutdown: Promise<void> | null = null;
  const limits = resolveLimits(config, options);

  const metrics = new MetricsRegistry();
  const stopProcessMetrics = registerProcessMetrics(metrics);
  const guard: ConnectionGuard = new ConnectionGuard({
    ...limits,
    origins: parseAllowedOrigins(config.allowOrigin ?? OPERATION_DEFAULTS.allowOrigin),
    hosts: parseAllowedHosts(config.host, config.allowHost ?? []),
    holds: holdsConnection,
  }, new HttpMetrics(metrics, () => guard.sockets, () => guard.limits.open));

  const server = http.createServer({
    // Checked by the guard, to answer with a JSON error like every other refusal.
    requireHostHeader: false,
    // The guard's timer closes a connection without a complete head at headersTimeout;
    // Node's own check, on an interval, is only a backstop.
    headersTimeout: limits.headersTimeout,
    requestTimeout: Math.max(300_000, limits.headersTimeout),
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL,
    ...(options.keepAliveTimeout !== undefined ? { keepAliveTimeout: options.keepAliveTimeout } : {}),
  }, (req, res) => {
    if (guard.admitRequest(req, res)) router.handleRequest(req, res);
  });
  // A connection silent both ways this long is dropped; not while it holds a long poll,
  // a stream or an Engine.IO poll (the guard skips those), and WebSockets turn it off
  // (docs/PROTOCOL.md §6.1).
  server.setTimeout(limits.idleTimeout);
  guard.attach(server);
  server.on('upgrade', (req, socket, head) => {
    if (!guard.admitUpgrade(req, socket)) return;
    if (options.refuseUpgrades) return abort(socket, 403, 'WebSocket upgrades are refused here');
    router.handleUpgrade(req, socket, head);
  });
  // CONNECT (a proxy tunnel request) is not for us: a JSON 405, not a silent close.
  server.on('connect', (_req, socket: Socket) => {
    guard.headReceived(socket);
    socket.on('error', destroySocket);
    abort(socket, 405, 'CONNECT is not supported', { Allow: 'GET, HEAD, POST' });
  });
  // An Expect other than 100-continue: a JSON 417 instead of Node's empty one.
  server.on('checkExpectation', (req, res) => {
    if (guard.admitRequest(req, res)) sendError(res, 417, `unsupported expectation: ${req.headers.expect}`);
  });
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return void socket.destroy();
    if (err.code === 'HPE_HEADER_OVERFLOW') socket.end(httpErrorResponse(431, 'request headers too large'));
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      guard.metrics.timedOut('headers');
      socket.end(httpErrorResponse(408, 'request took too long'));
    } else socket.end(httpErrorResponse(400, 'bad HTTP request'));
  });

  router.get('/metrics', serveMetrics(metrics));

  const echo = mountEcho(router, config.maxMessage);
  closables.push({ close: () => new Promise<void>((resolve) => echo.close(resolve)) });

  const push = mountPush(router, {
    dataDir: config.dataDir,
    maxMessage: config.maxMessage,
    ...(config.maxSubscriptionsPerIp !== undefined ? { maxSubscriptionsPerIp: config.maxSubscriptionsPerIp || Infinity } : {}),
    ...options.push,
    ...(options.channelLog ? { log: options.channelLog } : {}),
    metrics,
  });
  closables.push(push);
  registerPushMetrics(metrics, push);

  // Socket.IO: rooms are channels of the same log, and a cut client recovers what it missed.
  const io = new SocketIoServer({
    log: push.log,
    connectionStateRecovery: true,
    // Packets are bounded as client events of the push layer are (docs/PROTOCOL.md §6.1).
    maxHttpBufferSize: Math.min(config.maxMessage, options.push?.maxEmitBody ?? PUSH_DEFAULTS.maxEmitBody),
    ...options.socketio,
  }).mount(router);
  closables.push(io);
  // Socket.IO connections pass the same connection hook (docs/PROTOCOL.md §6.4); its rooms are joined by server code.
  if (options.push?.authorize?.connection) {
    io.use((socket, next) => {
      push.admitConnection(socket.client.conn.request, 'socketio').then(
        (request) => { socket.data.request = request; next(); },
        (err: unknown) => {
          if (err instanceof AuthorizationRefused) return next(err);
          console.error('pushwire: authorization hook failed:', err);
          next(new Error('internal error'));
        },
      );
    });
  }

  // The demo (docs/PROTOCOL.md §4): the page, /push.js, /api/registrations and the chat.
  const app = mountApp(router, push, config, options.log ? { log: options.log } : {});
  closables.push(app);
  mountSocketIoChat(io, push);

  return {
    http: server,
    router,
    config,
    push,
    metrics,
    limits,
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
        guard.stopping = true;
        server.close();
        server.closeIdleConnections();
        const closed = Promise.all(closables.map((c) => c.close()));
        const deadline = new Promise((resolve) => setTimeout(resolve, 4000).unref());
        await Promise.race([closed, deadline]);
        stopProcessMetrics();
        for (const socket of guard.sockets) socket.destroy();
      })());
    },
  };
}

/** Paths whose answer may stay open: nothing pipelined behind them is served (docs/PROTOCOL.md §6.1). */
const HELD_PATHS = new Set(['/push/sse', '/push/iframe', '/push/longpoll', '/socket.io/']);

function holdsConnection(method: string | undefined, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && HELD_PATHS.has(path);
}

/** The limits of docs/PROTOCOL.md §6.1, from the config (flags) and the options, defaults filled in. */
function resolveLimits(config: ServerConfig, options: PushwireServerOptions): PushwireServer['limits'] {
  const fileLimit = maxFileCount();
  return {
    maxConnections: config.maxConnections ?? (fileLimit === null ? FALLBACK_MAX_CONNECTIONS : Math.max(1, fileLimit - FD_RESERVE)),
    maxConnectionsPerIp: config.maxConnectionsPerIp ?? OPERATION_DEFAULTS.maxConnectionsPerIp,
    headersTimeout: config.headersTimeout ?? OPERATION_DEFAULTS.headersTimeout,
    idleTimeout: options.idleTimeout ?? config.idleTimeout ?? OPERATION_DEFAULTS.idleTimeout,
  };
}
