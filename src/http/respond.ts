import { isValidUtf8 } from '../protocol/utf8.js';
import type http from 'node:http';

/** Sends a JSON answer with the right length and type. */
export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** An error answer: `{"error": message}` (every refusal of docs/PROTOCOL.md). */
export function sendError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message }, headers);
}

/** An error with the HTTP status to answer with, thrown from where the problem is found. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Reads a request body of at most `limit` bytes. Past the limit it rejects
 * with 413 as soon as the excess arrives (or is announced by Content-Length),
 * without buffering it.
 */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      return reject(new HttpError(413, `request body over ${limit} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new HttpError(413, `request body over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => { if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)); });
    req.on('error', (err) => { if (!failed) { failed = true; reject(new HttpError(400, err.message)); } });
  });
}

/** Reads and parses a JSON body; 400 for anything that is not JSON. */
export async function readJson(req: http.IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  // toString would turn bad bytes into U+FFFD silently; JSON text must be UTF-8 (RFC 8259 §8.1).
  if (!isValidUtf8(body)) throw new HttpError(400, 'body is not valid UTF-8');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
}

/**
 * The request target as a URL, or an HttpError(400). Origin-form targets
 * ("/path?query") are read as a path even when they start with "//", which
 * `new URL(target, base)` would take for a host name.
 */
export function requestUrl(target: string | undefined): URL {
  const raw = target ?? '/';
  try {
    if (raw.startsWith('/')) return new URL('http://localhost' + raw);
    if (/^https?:\/\//i.test(raw)) return new URL(raw); // absolute-form (RFC 9112 §3.2.2)
  } catch {
    // fall through
  }
  throw new HttpError(400, 'bad request target');
}
