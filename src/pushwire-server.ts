import http from 'node:http';
import type { Socket } from 'node:net';
import type { ServerConfig } from './config.js';
import { Router } from './http/router.js';
import { sendError } from './http/respond.js';
import { mountEcho } from './echo.js';

/** Something that holds connections open and must let go of them on shutdown. */
export interface Closable {
  close(): void | Promise<void>;
}

export interface PushwireServer {
  readonly http: http.Server;
  readonly router: Router;
  readonly config: ServerConfig;
  /** Starts listening; resolves with the real address. */
  listen(): Promise<{ host: string; port: number }>;
  /** CONTRACT.md shutdown: stop accepting, close every client properly, resolve when done (at most ~4 s). */
  shutdown(): Promise<void>;
}

/** The whole server of CONTRACT.md on one http.Server. */
export function createPushwireServer(config: ServerConfig): PushwireServer {
  const router = new Router();
  const closables: Closable[] = [];
  const sockets = new Set<Socket>();
  let stopping = false;

  const server = http.createServer((req, res) => {
    if (stopping) {
      res.setHeader('Connection', 'close');
      return sendError(res, 503, 'server is shutting down');
    }
    router.handleRequest(req, res);
  });
  server.on('upgrade', (req, socket, head) => router.handleUpgrade(req, socket, head));
  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{"error":"bad HTTP request"}');
    else socket.destroy();
  });

  // Placeholder until the demo page lands (issue 4).
  router.get('/', (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>pushwire</title><h1>pushwire</h1><p>WebSocket echo at <code>/echo</code>.</p>');
  });

  const echo = mountEcho(router, config.maxMessage);
  closables.push({ close: () => new Promise<void>((resolve) => echo.close(resolve)) });

  return {
    http: server,
    router,
    config,
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
    async shutdown() {
      if (stopping) return;
      stopping = true;
      server.close();
      server.closeIdleConnections();
      const closed = Promise.all(closables.map((c) => c.close()));
      const deadline = new Promise((resolve) => setTimeout(resolve, 4000).unref());
      await Promise.race([closed, deadline]);
      for (const socket of sockets) socket.destroy();
    },
  };
}
