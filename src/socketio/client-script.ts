import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import { fileURLToPath } from 'node:url';
import { ifNoneMatchHits } from '../http/conditional.js';

/** The compiled browser client, seen from dist/socketio (npm start) or build/src/socketio (the tests). */
const CANDIDATES = ['../public/socket.io.js', '../../../dist/public/socket.io.js'];

/**
 * The project's own browser client, `io()` (src/client/socket.io.ts, built
 * into dist/public): read once, answered with an ETag so an unchanged copy
 * costs a 304.
 */
export class ClientScript {
  private body: Buffer | null = null;
  private etag = '';

  private load(): Buffer | null {
    if (this.body !== null) return this.body;
    for (const relative of CANDIDATES) {
      const file = fileURLToPath(new URL(relative, import.meta.url));
      if (!fs.existsSync(file)) continue;
      this.body = fs.readFileSync(file);
      this.etag = `"${createHash('sha256').update(this.body).digest('base64url').slice(0, 22)}"`;
      return this.body;
    }
    return null;
  }

  send(req: http.IncomingMessage, res: http.ServerResponse): void {
    const body = this.load();
    if (body === null) {
      const text = '{"error":"the browser client is not built: run npm run build"}';
      res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': text.length });
      res.end(text);
      return;
    }
    const headers = {
      'Content-Type': 'text/javascript; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      ETag: this.etag,
    };
    // The same reading of If-None-Match as the static files' (docs/PROTOCOL.md §4.5): a list, weak tags.
    if (ifNoneMatchHits(req.headers['if-none-match'], this.etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
