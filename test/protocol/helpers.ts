/**
 * Test helpers for the sans-I/O core: a reference frame builder written
 * independently of src/protocol (byte by byte from RFC 6455 §5.2), a
 * recording FrameHandler, feeding helpers, the byte-wise masking reference
 * and a seeded PRNG.
 */
import { FrameDecoder, type FrameDecoderOptions, type FrameHandler } from '../../src/protocol/frame-decoder.js';
import type { ProtocolError } from '../../src/protocol/errors.js';

export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  /** RSV bits 0..7 (4 = RSV1). */
  rsv?: number;
  /** A 4-byte key, or null for an unmasked frame. */
  mask?: Uint8Array | null;
  /** Put this length in the header instead of the payload's. */
  declaredLength?: number;
  /** Force the 16- or 64-bit length form even when a shorter one fits. */
  lengthForm?: 7 | 16 | 64;
}

export const KEY = Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]);

/** One frame, from the RFC's bit layout, with no code from src/. */
export function buildFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : Buffer.from(spec.payload ?? []);
  const len = spec.declaredLength ?? payload.length;
  const form = spec.lengthForm ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
  const key = spec.mask === undefined ? KEY : spec.mask;
  const bytes: number[] = [];
  bytes.push((spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) << 4) | spec.opcode);
  const maskBit = key ? 0x80 : 0;
  if (form === 7) bytes.push(maskBit | len);
  else if (form === 16) bytes.push(maskBit | 126, (len >> 8) & 0xff, len & 0xff);
  else {
    bytes.push(maskBit | 127);
    const big = BigInt(len);
    for (let i = 7; i >= 0; i--) bytes.push(Number((big >> BigInt(i * 8)) & 0xffn));
  }
  if (key) bytes.push(...key);
  const head = Buffer.from(bytes);
  if (key) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
  return Buffer.concat([head, payload]);
}

export type Event =
  | { type: 'message'; data: Buffer; isBinary: boolean; compressed: boolean }
  | { type: 'ping' | 'pong'; data: Buffer }
  | { type: 'close'; code: number; reason: Buffer }
  | { type: 'error'; code: number; message: string };

/** A FrameHandler that records every call; data is copied (the decoder may hand out views). */
export class Recorder implements FrameHandler {
  readonly events: Event[] = [];
  onMessage(data: Buffer, isBinary: boolean, compressed: boolean): void {
    this.events.push({ type: 'message', data: Buffer.from(data), isBinary, compressed });
  }
  onPing(payload: Buffer): void { this.events.push({ type: 'ping', data: Buffer.from(payload) }); }
  onPong(payload: Buffer): void { this.events.push({ type: 'pong', data: Buffer.from(payload) }); }
  onClose(code: number, reason: Buffer): void { this.events.push({ type: 'close', code, reason: Buffer.from(reason) }); }
  onError(error: ProtocolError): void { this.events.push({ type: 'error', code: error.closeCode, message: error.message }); }
}

export const SERVER: FrameDecoderOptions = { expectMasked: true, maxMessageSize: 16 * 1024 * 1024 };
export const CLIENT: FrameDecoderOptions = { expectMasked: false, maxMessageSize: 16 * 1024 * 1024 };

/**
 * Feeds `bytes` cut at `cuts` (sorted offsets) to a new decoder and returns
 * the events. The bytes are copied first: the decoder unmasks in place.
 */
export function decode(bytes: Uint8Array, cuts: number[] = [], options: FrameDecoderOptions = SERVER): Event[] {
  const rec = new Recorder();
  const dec = new FrameDecoder(rec, options);
  const copy = Buffer.from(bytes);
  let from = 0;
  for (const cut of [...cuts, copy.length]) {
    if (cut > from) dec.push(copy.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return rec.events;
}

/** Bytes a paused decoder holds for resume() (its private queue: only tests look at it). */
export function pendingBytes(decoder: FrameDecoder): number {
  let n = 0;
  for (const b of (decoder as unknown as { pending: Buffer[] }).pending) n += b.length;
  return n;
}

/** Every byte its own chunk. */
export function byteCuts(n: number): number[] {
  return Array.from({ length: Math.max(0, n - 1) }, (_, i) => i + 1);
}

/** Comparable form of events (buffers as hex). */
export function show(events: Event[]): unknown[] {
  return events.map((e) => {
    switch (e.type) {
      case 'message': return ['message', e.isBinary ? 'binary' : 'text', e.compressed, e.data.toString('hex')];
      case 'ping': case 'pong': return [e.type, e.data.toString('hex')];
      case 'close': return ['close', e.code, e.reason.toString('hex')];
      default: return ['error', e.code];
    }
  });
}

/** Masking (RFC 6455 §5.3) one byte at a time: the reference every kernel is checked against. */
export function applyMaskBytewise(data: Uint8Array, key: Uint8Array, phase = 0): void {
  for (let i = 0; i < data.length; i++) data[i]! ^= key[(phase + i) & 3]!;
}

/** mulberry32: small, fast, seedable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
