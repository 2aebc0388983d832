import { CloseCode } from './constants.js';
import { ProtocolError } from './errors.js';
import { isValidUtf8 } from './utf8.js';

/**
 * Codes a peer may put in a close frame (RFC 6455 §7.4, IANA registry):
 * 1000–1003 and 1007–1014 are defined; 1004 is reserved; 1005, 1006 and 1015
 * must never be sent; 3000–4999 belong to libraries and applications.
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999);
}

export interface ClosePayload {
  code: number;
  reason: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Parses a received close frame payload (already unmasked). Throws ProtocolError. */
export function parseClosePayload(payload: Buffer): ClosePayload {
  if (payload.length === 0) return { code: CloseCode.NoStatus, reason: EMPTY };
  // §5.5.1: a body, if present, starts with a 2-byte code.
  if (payload.length === 1) throw new ProtocolError('close frame with a 1-byte payload', CloseCode.ProtocolError);
  const code = payload.readUInt16BE(0);
  if (!isValidCloseCode(code)) throw new ProtocolError(`invalid close code ${code}`, CloseCode.ProtocolError);
  const reason = payload.subarray(2);
  if (!isValidUtf8(reason)) throw new ProtocolError('invalid UTF-8 in close reason', CloseCode.InvalidPayload);
  return { code, reason };
}

/** §5.5: a control frame holds 125 bytes; the close code takes 2. */
export const MAX_CLOSE_REASON = 123;

/** Builds a close frame payload; code 1005 means "no body". A reason over 123 bytes is a RangeError. */
export function encodeClosePayload(code: number, reason: string | Buffer = EMPTY): Buffer {
  if (code === CloseCode.NoStatus) return EMPTY;
  const reasonBytes = typeof reason === 'string' ? Buffer.from(reason) : reason;
  if (reasonBytes.length > MAX_CLOSE_REASON) throw new RangeError(`close reason must be at most ${MAX_CLOSE_REASON} bytes`);
  const body = Buffer.allocUnsafe(2 + reasonBytes.length);
  body.writeUInt16BE(code, 0);
  reasonBytes.copy(body, 2);
  return body;
}

/**
 * A text as a close reason: its UTF-8 bytes, cut to the 123 a close frame
 * holds on a character boundary, so the reason stays valid UTF-8 (§5.5.1).
 */
export function truncateCloseReason(text: string): Buffer {
  const bytes = Buffer.from(text);
  if (bytes.length <= MAX_CLOSE_REASON) return bytes;
  let end = MAX_CLOSE_REASON;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
