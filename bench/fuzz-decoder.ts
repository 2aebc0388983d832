/**
 * Fuzzing of the sans-I/O FrameDecoder for `npm run fuzz`: each case is a
 * stream of frames built from the RFC's layout (test/protocol/helpers.ts
 * buildFrame), in server or client mode, with or without RSV1 allowed, clean
 * or with invalid frames and byte-level mutations, decoded whole and in
 * random pieces. Checked for every case:
 * - push() never throws;
 * - the same bytes give the same events whole and in pieces;
 * - at most one close or error, last, an error's code 1002, 1007 or 1009, a
 *   close's code one a peer may send (or 1005 for none);
 * - messages within the size limit, text valid UTF-8 unless compressed,
 *   compressed only where RSV1 is allowed; pings and pongs within 125 bytes;
 * - a clean stream gives exactly the events it was built from.
 */
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { buildFrame, prng, Recorder, show, type Event } from '../test/protocol/helpers.js';

export interface DecoderCase {
  bytes: Buffer;
  expectMasked: boolean;
  maxMessageSize: number;
  allowRsv1: boolean;
  /** The events of a clean stream, in show() form; null once anything invalid went in. */
  expected: unknown[] | null;
  cuts: number[];
}

const PEER_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const BAD_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535];

const fatal = new TextDecoder('utf-8', { fatal: true });
function validUtf8(bytes: Uint8Array): boolean {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The case for this seed; the same seed always gives the same case. */
export function decoderCase(seed: number): DecoderCase {
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const expectMasked = rand() < 0.8;
  const maxMessageSize = [1, 125, 1000, 4096, 65_536, 1 << 20][int(6)]!;
  const allowRsv1 = rand() < 0.3;
  const mask = () => (expectMasked ? Uint8Array.of(int(256), int(256), int(256), int(256)) : null);
  const parts: Buffer[] = [];
  const expected: unknown[] = [];
  let clean = true;
  // xorshift32 seeded from the case's generator: random bytes four at a time (payloads reach 64 KiB).
  const bytesOf = (n: number) => {
    const b = Buffer.alloc(n);
    let x = (int(0xffffffff) | 1) >>> 0;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      b.writeUInt32LE(x >>> 0, i);
    }
    for (; i < n; i++) b[i] = int(256);
    return b;
  };
  const control = () => {
    const opcode = rand() < 0.5 ? 9 : 10;
    const oversize = rand() < 0.05;
    const payload = bytesOf(oversize ? 126 + int(200) : int(126));
    parts.push(buildFrame({ opcode, payload, mask: mask() }));
    if (oversize) clean = false;
    else expected.push([opcode === 9 ? 'ping' : 'pong', payload.toString('hex')]);
  };
  // Whole characters of every UTF-8 length, at most n bytes: a run of up to 256 repeated to length.
  const text = (n: number) => {
    const chars: string[] = [];
    let bytes = 0;
    for (let k = 0; k < 256; k++) {
      const r = rand();
      const cp = r < 0.6 ? 0x20 + int(95) : r < 0.8 ? 0x80 + int(0x780) : r < 0.95 ? 0xe000 + int(0x2000) : 0x10000 + int(0xfffff);
      const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (bytes + size > n) break;
      chars.push(String.fromCodePoint(cp));
      bytes += size;
    }
    const run = chars.join('');
    return bytes === 0 ? Buffer.alloc(0) : Buffer.from(run.repeat(Math.floor(n / bytes)));
  };

  for (let items = 1 + int(12); items > 0; items--) {
    const r = rand();
    if (r < 0.2) {
      control();
      continue;
    }
    if (r < 0.27) {
      // Invalid on purpose: a reserved opcode, RSV2/3, a stray continuation, an unmasked (or masked) frame, a huge length.
      clean = false;
      const kind = int(5);
      if (kind === 0) parts.push(buildFrame({ opcode: [3, 4, 5, 6, 7, 11, 12, 13, 14, 15][int(10)]!, payload: bytesOf(int(10)), mask: mask() }));
      else if (kind === 1) parts.push(buildFrame({ opcode: 1, payload: 'x', rsv: 1 + int(3), mask: mask() }));
      else if (kind === 2) parts.push(buildFrame({ opcode: 0, payload: 'stray', mask: mask() }));
      else if (kind === 3) parts.push(buildFrame({ opcode: 2, payload: bytesOf(5), mask: expectMasked ? null : Uint8Array.of(1, 2, 3, 4) }));
      else parts.push(buildFrame({ opcode: 2, payload: Buffer.alloc(0), declaredLength: [maxMessageSize + 1, 2 ** 32, 2 ** 53 - 1][int(3)]!, lengthForm: 64, mask: mask() }));
      continue;
    }
    if (r < 0.32) {
      // A close frame, valid or not; a clean stream ends with it (the decoder ignores what follows).
      const code = rand() < 0.8 ? PEER_CLOSE_CODES[int(PEER_CLOSE_CODES.length)]! : BAD_CLOSE_CODES[int(BAD_CLOSE_CODES.length)]!;
      const reason = rand() < 0.9 ? Buffer.from(['', 'bye', 'κόσμε', 'x'.repeat(int(124))][int(4)]!) : Buffer.from([0xc3, 0x28]);
      const form = int(10);
      const payload = form === 0 ? Buffer.alloc(0) : form === 1 ? Buffer.from([0x03]) : Buffer.concat([Buffer.from([code >> 8, code & 0xff]), reason]);
      parts.push(buildFrame({ opcode: 8, payload, mask: mask() }));
      const valid = form === 0 || (form > 1 && PEER_CLOSE_CODES.includes(code) && validUtf8(reason) && payload.length <= 125);
      if (clean && valid) expected.push(['close', form === 0 ? 1005 : code, form === 0 ? '' : reason.toString('hex')]);
      else clean = false;
      if (rand() < 0.5) parts.push(buildFrame({ opcode: 1, payload: 'after the close', mask: mask() }));
      break;
    }
    // A data message: text or binary, maybe compressed (RSV1), maybe invalid UTF-8, maybe too big, in 1 to 5 fragments.
    const isText = rand() < 0.5;
    // Mostly small (headers and state changes are where decoders go wrong), now and then past 64 KiB (the 64-bit length).
    const sr = rand();
    const size = Math.min(sr < 0.5 ? int(20) : sr < 0.8 ? int(200) : sr < 0.96 ? 126 + int(2000) : 65_536 + int(3000),
      maxMessageSize + (rand() < 0.05 ? 1 + int(10) : 0));
    let payload = isText ? text(size) : bytesOf(size);
    if (isText && rand() < 0.05) payload = Buffer.concat([payload, Buffer.from([0xff])]);
    const compressed = rand() < 0.15;
    const pieces = rand() < 0.6 ? 1 : 2 + int(4);
    const cutsIn = Array.from({ length: pieces - 1 }, () => int(payload.length + 1)).sort((a, b) => a - b);
    let from = 0;
    for (let i = 0; i < pieces; i++) {
      const to = i === pieces - 1 ? payload.length : cutsIn[i]!;
      parts.push(buildFrame({ opcode: i === 0 ? (isText ? 1 : 2) : 0, payload: payload.subarray(from, to), fin: i === pieces - 1, rsv: i === 0 && compressed ? 4 : 0, mask: mask() }));
      from = to;
      if (i < pieces - 1 && rand() < 0.3) control();
    }
    const valid = payload.length <= maxMessageSize && (!compressed || allowRsv1) && (!isText || compressed || validUtf8(payload));
    if (clean && valid) expected.push(['message', isText ? 'text' : 'binary', compressed, payload.toString('hex')]);
    else clean = false;
  }

  let bytes = Buffer.concat(parts);
  // Byte-level mutations on a third of the cases.
  if (rand() < 0.33) {
    clean = false;
    for (let m = 1 + int(4); m > 0 && bytes.length > 0; m--) {
      const at = int(bytes.length);
      switch (int(6)) {
        case 0: bytes[at]! ^= 1 << int(8); break;
        case 1: bytes[at] = int(256); break;
        case 2: bytes = bytes.subarray(0, at); break;
        case 3: bytes = Buffer.concat([bytes.subarray(0, at), bytesOf(1 + int(16)), bytes.subarray(at)]); break;
        case 4: bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + int(16))]); break;
        default: bytes = Buffer.concat([bytes.subarray(0, at + 32), bytes.subarray(at, at + 32), bytes.subarray(at + 32)]);
      }
    }
  }
  const r = rand();
  const cuts = r < 0.15 && bytes.length < 4000
    ? Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1)
    : Array.from({ length: r < 0.3 ? 0 : 1 + int(16) }, () => int(bytes.length + 1)).sort((a, b) => a - b);
  return { bytes, expectMasked, maxMessageSize, allowRsv1, expected: clean ? expected : null, cuts };
}

function decode(c: DecoderCase, cuts: number[]): Event[] {
  const recorder = new Recorder();
  const decoder = new FrameDecoder(recorder, { expectMasked: c.expectMasked, maxMessageSize: c.maxMessageSize, allowRsv1: c.allowRsv1 });
  const copy = Buffer.from(c.bytes); // the decoder unmasks in place
  let from = 0;
  for (const cut of [...cuts, copy.length]) {
    if (cut > from) decoder.push(copy.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return recorder.events;
}

/** Runs one case; returns the broken invariant, or null. Also the events, for statistics. */
export function checkDecoderCase(c: DecoderCase): { problem: string | null; events: Event[] } {
  let whole: Event[];
  let split: Event[];
  try {
    whole = decode(c, []);
    split = decode(c, c.cuts);
  } catch (err) {
    return { problem: `push() threw: ${(err as Error).stack}`, events: [] };
  }
  const problem = (text: string) => ({ problem: text, events: whole });
  if (JSON.stringify(show(whole)) !== JSON.stringify(show(split))) return problem('whole and split decodings differ');
  for (let i = 0; i < whole.length; i++) {
    const e = whole[i]!;
    const last = i === whole.length - 1;
    if ((e.type === 'close' || e.type === 'error') && !last) return problem(`events after the ${e.type}`);
    if (e.type === 'error' && ![1002, 1007, 1009].includes(e.code)) return problem(`error with close code ${e.code}`);
    if (e.type === 'close' && e.code !== 1005 && !PEER_CLOSE_CODES.includes(e.code) && !(e.code >= 3000 && e.code <= 4999)) return problem(`close with code ${e.code}`);
    if (e.type === 'close' && !validUtf8(e.reason)) return problem('close reason not UTF-8');
    if ((e.type === 'ping' || e.type === 'pong') && e.data.length > 125) return problem(`${e.type} of ${e.data.length} bytes`);
    if (e.type === 'message') {
      if (e.compressed && !c.allowRsv1) return problem('a compressed message where RSV1 is not allowed');
      if (e.data.length > c.maxMessageSize) return problem(`message of ${e.data.length} bytes over the limit ${c.maxMessageSize}`);
      if (!e.isBinary && !e.compressed && !validUtf8(e.data)) return problem('text message not UTF-8');
    }
  }
  if (c.expected !== null && JSON.stringify(show(whole)) !== JSON.stringify(c.expected)) return problem('a clean stream decoded to other events than it was built from');
  return { problem: null, events: whole };
}
