// Our WebSocketServer attached to a bare http.Server on a free port of 127.0.0.1.
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/websocket/server.js';

export interface AttachedServer {
  wss: WebSocketServer;
  port: number;
  /** Closes the WebSocketServer, then every connection and the http.Server. */
  close(): Promise<void>;
}

export async function attachWebSocketServer(options: Omit<WebSocketServerOptions, 'server'> = {}): Promise<AttachedServer> {
  const httpServer = http.createServer();
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const wss = new WebSocketServer({ ...options, server: httpServer });
  return {
    wss,
    port: (httpServer.address() as AddressInfo).port,
    async close() {
      wss.close();
      httpServer.closeAllConnections();
      await new Promise((r) => httpServer.close(r));
    },
  };
}
