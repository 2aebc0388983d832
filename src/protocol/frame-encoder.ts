import { randomFillSync } from 'node:crypto';
import { applyMask } from './mask.js';

/**
 * RFC 6455 §5.2 frame encoder. Server frames are unmasked; client frames are
 * masked with a fresh key from the CSPRNG (§5.3). Lengths use the minimal
 * encoding. Small frames come out as one buffer (one write); a large payload
 * is never copied: its header is built apart and the caller writes both.
 */

/** Payloads up to this size are copied behind their header; larger ones are written as is. */
export const MERGE_LIMIT = 8 * 1024;

export function headerLength(payloadLength: number, masked: boolean): number {
  return (payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/** Writes a frame header into target at offset; returns the offset after it. */
export function writeHeader(
  target: Buffer, offset: number, opcode: number, payloadLength: number,
  fin: boolean, rsv1: boolean, maskKey: Uint8Array | null,
): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = maskKey ? 0x80 : 0;
  if (payloadLength < 126) {
    target[offset + 1] = maskBit | payloadLength;
    offset += 2;
  } else if (payloadLength < 0x10000) {
    target[offset + 1] = maskBit | 126;
    target.writeUInt16BE(payloadLength, offset + 2);
    offset += 4;
  } else {
    target[offset + 1] = maskBit | 127;
    target.writeUInt32BE(Math.floor(payloadLength / 0x100000000), offset + 2);
    target.writeUInt32BE(payloadLength >>> 0, offset + 6);
    offset += 10;
  }
  if (maskKey) {
    target[offset] = maskKey[0]!; target[offset + 1] = maskKey[1]!;
    target[offset + 2] = maskKey[2]!; target[offset + 3] = maskKey[3]!;
    offset += 4;
  }
  return offset;
}

/** The header alone, for a payload written separately (cork + two writes = one writev). */
export function encodeHeader(opcode: number, payloadLength: number, fin = true, rsv1 = false, maskKey: Uint8Array | null = null): Buffer {
  const header = Buffer.allocUnsafe(headerLength(payloadLength, maskKey !== null));
  writeHeader(header, 0, opcode, payloadLength, fin, rsv1, maskKey);
  return header;
}

/**
 * A whole frame in one buffer: header, then the payload copied (and masked
 * when maskKey is given; the caller's payload is never modified).
 */
export function encodeFrame(opcode: number, payload: Uint8Array, fin = true, rsv1 = false, maskKey: Uint8Array | null = null): Buffer {
  const frame = Buffer.allocUnsafe(headerLength(payload.length, maskKey !== null) + payload.length);
  const offset = writeHeader(frame, 0, opcode, payload.length, fin, rsv1, maskKey);
  frame.set(payload, offset);
  if (maskKey) applyMask(frame.subarray(offset), maskKey, 0);
  return frame;
}

/** A text frame straight from a string: the UTF-8 bytes are written once, behind the header. */
export function encodeTextFrame(text: string, fin = true, rsv1 = false, maskKey: Uint8Array | null = null): Buffer {
  // String length bounds the UTF-8 length from below and 3× from above: size exactly only when needed.
  const byteLength = text.length < 42 && isAscii(text) ? text.length : Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(headerLength(byteLength, maskKey !== null) + byteLength);
  const offset = writeHeader(frame, 0, 1, byteLength, fin, rsv1, maskKey);
  if (byteLength === text.length && byteLength < 42) {
    for (let i = 0; i < byteLength; i++) frame[offset + i] = text.charCodeAt(i);
  } else {
    frame.write(text, offset);
  }
  if (maskKey) applyMask(frame.subarray(offset), maskKey, 0);
  return frame;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

// Mask keys come from a pool refilled from the CSPRNG, not one syscall per frame.
const keyPool = Buffer.alloc(8192);
let keyOffset = keyPool.length;

/** A fresh, unpredictable 4-byte masking key (§10.3). Valid until the next call. */
export function nextMaskKey(): Buffer {
  if (keyOffset === keyPool.length) {
    randomFillSync(keyPool);
    keyOffset = 0;
  }
  const key = keyPool.subarray(keyOffset, keyOffset + 4);
  keyOffset += 4;
  return key;
}
