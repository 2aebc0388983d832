import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError, requestUrl, sendError } from './respond.js';
import { abort, destroySocket } from './raw-socket.js';
import { checkUpgradeRequest } from '../protocol/handshake.js';

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>;
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Exact-path routing for requests and upgrades. Unknown paths get 404, known
 * paths with another method 405 with Allow, and a thrown HttpError its status.
 */
export class Router {
  private readonly routes = new Map<string, Map<string, RequestHandler>>();
  private readonly upgrades = new Map<string, UpgradeHandler>();

  on(method: string, path: string, handler: RequestHandler): this {
    let byMethod = this.routes.get(path);
    if (!byMethod) this.routes.set(path, (byMethod = new Map()));
    byMethod.set(method, handler);
    if (method === 'GET' && !byMethod.has('HEAD')) byMethod.set('HEAD', handler);
    return this;
  }

  get(path: string, handler: RequestHandler): this { return this.on('GET', path, handler); }
  post(path: string, handler: RequestHandler): this { return this.on('POST', path, handler); }

  /**
   * An upgrade (WebSocket) endpoint at `path`. A plain GET there (no Upgrade
   * header) is answered with the handshake's own verdict: 426 and so on.
   */
  upgrade(path: string, handler: UpgradeHandler): this {
    this.upgrades.set(path, handler);
    if (!this.routes.get(path)?.has('GET')) this.get(path, answerPlainRequest);
    return this;
  }

  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url: URL;
    try {
      url = requestUrl(req.url);
    } catch (err) {
      return this.fail(res, err);
    }
    const byMethod = this.routes.get(url.pathname);
    if (!byMethod) return sendError(res, 404, `no such path: ${url.pathname}`);
    const handler = byMethod.get(req.method ?? 'GET');
    if (!handler) {
      const allow = [...byMethod.keys()].join(', ');
      return sendError(res, 405, `method ${req.method} not allowed on ${url.pathname}`, { Allow: allow });
    }
    let result: void | Promise<void>;
    try {
      result = handler(req, res, url);
    } catch (err) {
      return this.fail(res, err);
    }
    if (result) result.catch((err: unknown) => this.fail(res, err));
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!socket.listeners('error').includes(destroySocket)) socket.on('error', destroySocket);
    // The target is read as for any request: a bad one is 400, an absolute-form one finds its path.
    let path: string;
    try {
      path = requestUrl(req.url).pathname;
    } catch (err) {
      return abort(socket, 400, (err as Error).message);
    }
    const handler = this.upgrades.get(path);
    if (!handler) return abort(socket, 404, `no WebSocket endpoint at ${path}`);
    handler(req, socket, head);
  }

  private fail(res: http.ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof HttpError) return sendError(res, err.status, err.message);
    console.error('pushwire: request failed:', err);
    sendError(res, 500, 'internal error');
  }
}

function answerPlainRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  const check = checkUpgradeRequest(req);
  if (check.ok) return sendError(res, 400, 'WebSocket upgrade expected');
  sendError(res, check.status, check.message, check.headers);
}
