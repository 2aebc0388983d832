import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Router } from '../http/router.js';

/** What answers an Engine.IO path: requests of any method, and upgrades. */
export interface EngineEndpoint {
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void;
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** Engine.IO answers every method itself (a handshake by POST gets its own code 2, not a 405). */
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

/** Mounts an Engine.IO endpoint on the router at `path` (e.g. "/socket.io/"). */
export function mountEngineEndpoint(router: Router, path: string, endpoint: EngineEndpoint): void {
  for (const method of METHODS) router.on(method, path, (req, res, url) => endpoint.handleRequest(req, res, url));
  router.upgrade(path, (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
}
