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

/**
 * An error answer: `{"error": message}` (every refusal of docs/PROTOCOL.md).
 * A refusal that comes before the request's body is read leaves the body
 * unread and closes the connection after the answer (docs/PROTOCOL.md §6.1).
 */
export function sendError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  leaveBodyUnread(res);
  sendJson(res, status, { error: message }, headers);
}

/**
 * Before a refusal: if the request's body is not all read, the rest is left
 * unread and the connection closes after the answer (docs/PROTOCOL.md §6.1).
 */
export function leaveBodyUnread(res: http.ServerResponse): void {
  const req = res.req as http.IncomingMessage | undefined;
  if (req === undefined || !bodyLeft(req)) return;
  stopReading(req);
  closeAfterAnswer(res);
}

/** The request announced a body that has not all been read. */
function bodyLeft(req: http.IncomingMessage): boolean {
  return !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0);
}

/** An error with the HTTP status to answer with, thrown from where the problem is found. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** How long a connection whose upload was refused stays open for the client to read the answer. */
const LINGER_MS = 2000;

/**
 * Reads a request body of at most `limit` bytes. Past the limit it rejects
 * with 413 as soon as the excess arrives (or is announced by Content-Length),
 * and reads no more of it (docs/PROTOCOL.md §6.1).
 */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpError(413, `request body over ${limit} bytes`);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      stopReading(req);
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      failed = true;
      chunks.length = 0;
      req.off('data', onData);
      stopReading(req);
      reject(tooLarge());
    };
    req.on('data', onData);
    req.on('end', () => { if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)); });
    req.on('error', (err) => { if (!failed) { failed = true; reject(new HttpError(400, err.message)); } });
  });
}

/**
 * Leaves the rest of a body unread: what arrives fills the stream's buffer,
 * then Node stops reading the socket and the client's writes stall. (Node
 * would otherwise read and drop a body nobody consumed, for as long as the
 * client sends.) `read(0)` marks the body as consumed, which is what keeps
 * Node from doing that once the answer is sent.
 */
function stopReading(req: http.IncomingMessage): void {
  req.pause();
  req.read(0);
}

/**
 * After answering a request whose body was left unread: the answer says
 * `Connection: close` and is followed by a FIN; the connection is dropped
 * when the client closes, or LINGER_MS later. Node would drop it as soon as
 * the answer is flushed (its `destroySoon()`), and the kernel would then answer
 * the unread upload with a reset, which can discard the answer before the
 * client has read it. Call before sending the answer.
 */
function closeAfterAnswer(res: http.ServerResponse): void {
  const socket = res.socket;
  if (socket === null) return;
  res.setHeader('Connection', 'close');
  socket.destroySoon = () => { socket.end(); };
  res.once('finish', () => {
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
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
