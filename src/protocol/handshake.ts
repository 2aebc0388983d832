import { createHash } from 'node:crypto';
import { WEBSOCKET_GUID } from './constants.js';

/** §4.2.2: Sec-WebSocket-Accept = base64(SHA-1(key + GUID)). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** What the opening handshake needs from an HTTP request (node's IncomingMessage fits). */
export interface UpgradeRequestLike {
  method?: string | undefined;
  httpVersion?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

export type UpgradeCheck =
  | { ok: true; key: string; protocols: Set<string>; extensions: string }
  | { ok: false; status: number; message: string; headers?: Record<string, string> };

// §4.1: the key is base64 of 16 bytes: 22 characters and "==".
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

function header(req: UpgradeRequestLike, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Splits a comma-separated token list, lower-cased (RFC 9110 §5.6.1). */
export function tokenList(value: string | undefined): string[] {
  if (!value) return [];
  return value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0);
}

// RFC 9110 §5.6.2: token = 1*tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 §5.6.3: optional whitespace is spaces and tabs only.
const OWS_EDGES = /^[ \t]+|[ \t]+$/g;

export type SubprotocolList = { ok: true; protocols: Set<string> } | { ok: false; message: string };

/**
 * Parses a client's Sec-WebSocket-Protocol: a comma-separated list of unique
 * tokens (RFC 6455 §4.1), in the client's order of preference. Empty list
 * elements are skipped (RFC 9110 §5.6.1); names are case-sensitive.
 */
export function parseSubprotocols(value: string | undefined): SubprotocolList {
  const protocols = new Set<string>();
  if (value === undefined) return { ok: true, protocols };
  for (const element of value.split(',')) {
    const name = element.replace(OWS_EDGES, '');
    if (name === '') continue;
    if (!TOKEN.test(name)) return { ok: false, message: `invalid Sec-WebSocket-Protocol: ${JSON.stringify(name)} is not a token` };
    if (protocols.has(name)) return { ok: false, message: `invalid Sec-WebSocket-Protocol: ${JSON.stringify(name)} is offered twice` };
    protocols.add(name);
  }
  return { ok: true, protocols };
}

/**
 * Checks a client's opening handshake (RFC 6455 §4.2.1). The failures carry
 * the HTTP status to answer with: 405 for a method other than GET, 426 with
 * the supported version for another Sec-WebSocket-Version, 400 otherwise.
 */
export function checkUpgradeRequest(req: UpgradeRequestLike): UpgradeCheck {
  if (req.method !== 'GET') {
    return { ok: false, status: 405, message: 'WebSocket handshake must use GET', headers: { Allow: 'GET' } };
  }
  if (req.httpVersion !== undefined && req.httpVersion !== '1.1' && !/^(1\.[1-9]|[2-9])/.test(req.httpVersion)) {
    return { ok: false, status: 400, message: 'WebSocket handshake needs HTTP/1.1' };
  }
  // §4.2.1 item 2 (and RFC 9112 §3.2): an HTTP/1.1 request must name its Host.
  if (!header(req, 'host')?.trim()) return { ok: false, status: 400, message: 'missing Host header' };
  if (!tokenList(header(req, 'upgrade')).includes('websocket')) {
    return { ok: false, status: 426, message: 'this endpoint needs a WebSocket upgrade', headers: { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' } };
  }
  if (!tokenList(header(req, 'connection')).includes('upgrade')) {
    return { ok: false, status: 400, message: 'Connection header must hold the Upgrade token' };
  }
  const key = header(req, 'sec-websocket-key')?.trim();
  if (!key) return { ok: false, status: 400, message: 'missing Sec-WebSocket-Key' };
  if (!KEY_PATTERN.test(key)) return { ok: false, status: 400, message: 'Sec-WebSocket-Key must be base64 of 16 bytes' };
  const version = header(req, 'sec-websocket-version')?.trim();
  if (version === undefined || version === '') return { ok: false, status: 400, message: 'missing Sec-WebSocket-Version' };
  if (version !== '13') {
    return { ok: false, status: 426, message: `unsupported WebSocket version ${JSON.stringify(version)}`, headers: { 'Sec-WebSocket-Version': '13' } };
  }
  const offered = parseSubprotocols(header(req, 'sec-websocket-protocol'));
  if (!offered.ok) return { ok: false, status: 400, message: offered.message };
  return { ok: true, key, protocols: offered.protocols, extensions: header(req, 'sec-websocket-extensions') ?? '' };
}

/** The 101 answer (§4.2.2 step 5). Header values are the caller's checked choices. */
export function upgradeResponse(key: string, protocol?: string, extensions?: string, extraHeaders: string[] = []): string {
  let head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
  if (protocol) head += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  if (extensions) head += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  for (const h of extraHeaders) head += h + '\r\n';
  return head + '\r\n';
}

/** Client side: does the server's Sec-WebSocket-Accept match the key we sent (§4.1)? */
export function checkAcceptHeader(key: string, accept: string | undefined): boolean {
  return accept !== undefined && accept.trim() === acceptKey(key);
}
