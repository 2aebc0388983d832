// Random HTTP input for the attack test and `npm run fuzz` (bench/fuzz.ts): from
// plain noise to well-formed heads with hostile values, upgrades followed by
// garbage frames, and bodies that are almost JSON. Deterministic for a seed.
import { prng } from '../protocol/helpers.js';

export { prng };

/** Every path the server routes, with the query strings its handlers read. */
export const ENDPOINTS = [
  '/', '/push.js', '/style.css', '/metrics', '/api/registrations', '/push/poll?channel=c&since=0',
  '/push/longpoll?channel=c&timeout=50', '/push/iframe?channel=c&callback=f', '/push/sse?channel=c',
  '/push/ws?channel=c', '/push/emit', '/echo', '/socket.io/?EIO=4&transport=polling', '/nowhere',
];

export const SHAPES = ['noise', 'request line', 'headers', 'upgrade', 'body'] as const;
export type Shape = (typeof SHAPES)[number];

export interface RandomRequest {
  shape: Shape;
  method: string;
  bytes: Buffer;
}

type Rand = () => number;

const METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'get', 'G ET', 'PRI', 'M-SEARCH', ''];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1 ', 'http/1.1', 'HTTP/1.12', ''];
const HEADER_NAMES = ['Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'Origin', 'Content-Type',
  'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Extensions', 'Sec-WebSocket-Protocol', 'Last-Event-ID',
  'Expect', 'If-None-Match', 'Accept-Encoding', 'Cookie', 'X-Forwarded-For', 'Range', 'Trailer'];

function int(rand: Rand, n: number): number {
  return Math.floor(rand() * n);
}

function pick<T>(rand: Rand, list: readonly T[]): T {
  return list[int(rand, list.length)]!;
}

function randomBytes(rand: Rand, n: number): Buffer {
  const bytes = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) bytes[i] = int(rand, 256);
  return bytes;
}

/** Mostly printable text, with now and then a control character, a high byte or a CR/LF in the wrong place. */
function roughText(rand: Rand, n: number): string {
  let text = '';
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.9) text += String.fromCharCode(0x20 + int(rand, 95));
    else if (r < 0.94) text += String.fromCharCode(int(rand, 0x20));
    else if (r < 0.97) text += String.fromCharCode(0x80 + int(rand, 0x80));
    else text += pick(rand, ['\r', '\n', '\r\n', ':', '\0', '%', '%ZZ', '\u00ff']);
  }
  return text;
}

function headerValue(rand: Rand, name: string): string {
  switch (name) {
    case 'Content-Length': return pick(rand, ['0', '5', '-1', '1e3', ' 10', '99999999999999999999', '10, 10', '0x10', String(int(rand, 70_000))]);
    case 'Transfer-Encoding': return pick(rand, ['chunked', 'gzip, chunked', 'chunked, gzip', 'identity', 'CHUNKED', 'x']);
    case 'Connection': return pick(rand, ['close', 'keep-alive', 'Upgrade', 'upgrade, keep-alive', '']);
    case 'Upgrade': return pick(rand, ['websocket', 'WebSocket', 'h2c', 'websocket, h2c', '']);
    case 'Origin': return pick(rand, ['http://evil.example', 'null', 'http://127.0.0.1', 'garbage', 'http://localhost:1', '']);
    case 'Sec-WebSocket-Version': return pick(rand, ['13', '8', '13, 8', '', 'x']);
    case 'Sec-WebSocket-Key': return pick(rand, ['dGhlIHNhbXBsZSBub25jZQ==', 'short', '', 'dGhlIHNhbXBsZSBub25jZQ', '!!!!!!!!!!!!!!!!!!!!!!==']);
    case 'Sec-WebSocket-Extensions': return pick(rand, ['permessage-deflate', 'permessage-deflate; client_max_window_bits', 'permessage-deflate; server_max_window_bits=7',
      'permessage-deflate; x=1', 'permessage-deflate,permessage-deflate', roughText(rand, 30)]);
    case 'Last-Event-ID': return pick(rand, ['5', '-1', 'c@3', 'c@x,d@1', roughText(rand, 20)]);
    default: return roughText(rand, int(rand, 60));
  }
}

/** A random JSON-ish body: valid JSON, almost JSON, deep nesting, long strings, bad UTF-8. */
function body(rand: Rand): Buffer {
  switch (int(rand, 7)) {
    case 0: return Buffer.from(JSON.stringify({ event: pick(rand, ['chat message', 'push:subscribe', '', 'x']), data: roughText(rand, int(rand, 200)) }));
    case 1: return Buffer.from(JSON.stringify({ name: roughText(rand, int(rand, 150)) }));
    case 2: return Buffer.from('['.repeat(int(rand, 5000)) + ']'.repeat(int(rand, 5000)));
    case 3: return Buffer.concat([Buffer.from('{"name":"'), randomBytes(rand, int(rand, 40)), Buffer.from('"}')]);
    case 4: return Buffer.from(roughText(rand, int(rand, 300)));
    case 5: return Buffer.from(JSON.stringify({ event: 'chat message', data: 'x'.repeat(int(rand, 2000)) }));
    default: return randomBytes(rand, int(rand, 500));
  }
}

/** Frames that are almost right: random opcodes, flags, lengths, masks, payloads, cut anywhere. */
function roughFrames(rand: Rand): Buffer {
  const parts: Buffer[] = [];
  for (let n = int(rand, 6); n >= 0; n--) {
    const length = pick(rand, [0, 1, 125, 126, 127, 200, 65535, 65536, 2 ** 31]);
    const head = Buffer.alloc(14);
    head[0] = (rand() < 0.8 ? 0x80 : 0) | (rand() < 0.1 ? 0x70 & (int(rand, 8) << 4) : 0) | pick(rand, [0, 1, 2, 3, 8, 9, 10, 11, 15]);
    const masked = rand() < 0.9 ? 0x80 : 0;
    let at = 2;
    if (length < 126) head[1] = masked | length;
    else if (length < 65536) { head[1] = masked | 126; head.writeUInt16BE(length, 2); at = 4; }
    else { head[1] = masked | 127; head.writeBigUInt64BE(BigInt(length), 2); at = 10; }
    if (masked) { randomBytes(rand, 4).copy(head, at); at += 4; }
    parts.push(head.subarray(0, at), randomBytes(rand, Math.min(length, int(rand, 300))));
  }
  const all = Buffer.concat(parts);
  return all.subarray(0, int(rand, all.length + 1));
}

/** One random request of the given shape for `endpoint`. */
export function randomRequest(rand: Rand, endpoint: string, shape: Shape): RandomRequest {
  const method = pick(rand, METHODS);
  const path = rand() < 0.8 ? endpoint : endpoint + pick(rand, ['&since=x', '&channel=a', '%', '%00', '&channels=a@1,a@2', '?' + roughText(rand, 40)]);
  switch (shape) {
    case 'noise':
      return { shape, method: '', bytes: randomBytes(rand, 1 + int(rand, 600)) };
    case 'request line': {
      const line = `${method} ${rand() < 0.5 ? path : roughText(rand, int(rand, 80))} ${pick(rand, VERSIONS)}\r\n`;
      return { shape, method, bytes: Buffer.from(line + roughText(rand, int(rand, 300)) + '\r\n\r\n', 'latin1') };
    }
    case 'headers':
    case 'body': {
      const chosen = shape === 'body' ? (rand() < 0.5 ? 'POST' : method) : method;
      let head = `${chosen} ${path} HTTP/1.1\r\n`;
      if (rand() < 0.9) head += 'Host: 127.0.0.1\r\n';
      const payload = shape === 'body' ? body(rand) : Buffer.alloc(0);
      if (shape === 'body' && rand() < 0.7) head += `Content-Length: ${rand() < 0.8 ? payload.length : int(rand, payload.length * 2 + 2)}\r\n`;
      for (let n = int(rand, 8); n > 0; n--) {
        const name = rand() < 0.8 ? pick(rand, HEADER_NAMES) : roughText(rand, 1 + int(rand, 20)).replace(/[\r\n:]/g, '');
        head += `${name}: ${headerValue(rand, name)}\r\n`;
      }
      return { shape, method: chosen, bytes: Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), payload]) };
    }
    case 'upgrade': {
      let head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
      if (rand() < 0.3) head += `Sec-WebSocket-Extensions: ${headerValue(rand, 'Sec-WebSocket-Extensions')}\r\n`;
      if (rand() < 0.2) head += `Origin: ${headerValue(rand, 'Origin')}\r\n`;
      const after = rand() < 0.5 ? roughFrames(rand) : randomBytes(rand, int(rand, 400));
      return { shape, method: 'GET', bytes: Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), after]) };
    }
  }
}

/**
 * What must hold for the answer to any input: no 5xx but 503 (a limit or the
 * shutdown), and every error answer (but to HEAD) a JSON `{"error"}`, or
 * Engine.IO's `{"code", "message"}` on /socket.io/. Returns the broken
 * invariant, or null.
 */
export function answerProblem(request: RandomRequest, status: number | null, json: any): string | null {
  if (status === null) return null; // closed without an answer: allowed for bytes that are not HTTP
  if (status >= 500 && status !== 503) return `answered ${status}`;
  if (status >= 400 && request.method !== 'HEAD') {
    const isError = json && (typeof json.error === 'string' || (typeof json.code === 'number' && typeof json.message === 'string'));
    if (!isError) return `answered ${status} without a JSON error`;
  }
  return null;
}
