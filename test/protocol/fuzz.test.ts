/**
 * Seeded, reproducible fuzzing of the FrameDecoder: well over 100,000 valid
 * and mutated client frames, fed in random chunk splits. For every case:
 * - push() never throws;
 * - no single allocation made while decoding exceeds the message limit (Buffer
 *   allocation is instrumented), message data never exceeds it, and the
 *   process's ArrayBuffer memory stays bounded over the run;
 * - the events are valid messages/pings/pongs, then at most one close or an
 *   error with 1002, 1007 or 1009, nothing after it;
 * - decoding the same bytes whole and in random pieces gives the same events;
 * - an unmutated stream gives exactly the messages it was built from.
 * FUZZ_SEED=n reproduces or varies a run; a failure prints the seed and case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { buildFrame, prng, Recorder, show, type Event } from './helpers.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x6455);
const TARGET_FRAMES = 100_000;
const VALID_CLOSE = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const fatal = new TextDecoder('utf-8', { fatal: true });
function validUtf8(b: Uint8Array): boolean {
  try { fatal.decode(b); return true; } catch { return false; }
}

// Instrument Buffer allocation: the largest single request while a decoder runs.
let tracking = false;
let largestAllocation = 0;
const B = Buffer as unknown as Record<string, (...args: unknown[]) => Buffer>;
for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'concat', 'from']) {
  const original = B[name]!.bind(Buffer);
  B[name] = (...args: unknown[]) => {
    const out = original(...args);
    if (tracking && out.length > largestAllocation) largestAllocation = out.length;
    return out;
  };
}

interface Case {
  bytes: Buffer;
  /** Events for an unmutated stream (show() form); null once mutated. */
  expected: unknown[] | null;
  frames: number;
  maxMessage: number;
  /** Where each frame starts, for header-aware mutations. */
  starts: number[];
}

function generate(rand: () => number): Case {
  const int = (n: number) => Math.floor(rand() * n);
  const maxMessage = [64, 1000, 4096, 70_000][int(4)]!;
  const parts: Buffer[] = [];
  const starts: number[] = [];
  const expected: unknown[] = [];
  let at = 0;
  let frames = 0;
  const key = () => Uint8Array.of(int(256), int(256), int(256), int(256));
  const push = (f: Buffer) => { starts.push(at); parts.push(f); at += f.length; frames++; };
  const size = () => {
    const r = rand();
    return r < 0.6 ? int(40) : r < 0.9 ? int(300) : r < 0.98 ? 126 + int(3000) : 65536 + int(4000);
  };
  const control = () => {
    const op = rand() < 0.5 ? 9 : 10;
    const p = Buffer.alloc(int(126));
    for (let i = 0; i < p.length; i++) p[i] = int(256);
    push(buildFrame({ opcode: op, payload: p, mask: key() }));
    expected.push([op === 9 ? 'ping' : 'pong', p.toString('hex')]);
  };
  const items = 1 + int(5);
  for (let n = 0; n < items; n++) {
    if (rand() < 0.25) { control(); continue; }
    const isText = rand() < 0.5;
    let payload: Buffer;
    const len = Math.min(size(), maxMessage);
    if (isText) {
      const chars: string[] = [];
      let bytes = 0;
      while (bytes < len) {
        const r = rand();
        const cp = r < 0.6 ? 0x20 + int(95) : r < 0.75 ? 0x80 + int(0x780) : r < 0.9 ? 0x800 + int(0xd000) : 0x10000 + int(0x100000);
        const ch = String.fromCodePoint(cp >= 0xd800 && cp < 0xe000 ? 0xe000 : cp);
        const l = Buffer.byteLength(ch);
        if (bytes + l > len) break;
        chars.push(ch);
        bytes += l;
      }
      payload = Buffer.from(chars.join(''));
    } else {
      payload = Buffer.alloc(len);
      for (let i = 0; i < len; i += 7) payload[i] = int(256);
    }
    // 1 to 4 fragments, cut anywhere (inside characters too), control frames between them.
    const pieces = rand() < 0.6 ? 1 : 2 + int(3);
    const cuts = Array.from({ length: pieces - 1 }, () => int(payload.length + 1)).sort((a, b) => a - b);
    let from = 0;
    for (let i = 0; i < pieces; i++) {
      const to = i === pieces - 1 ? payload.length : cuts[i]!;
      push(buildFrame({ opcode: i === 0 ? (isText ? 1 : 2) : 0, payload: payload.subarray(from, to), fin: i === pieces - 1, mask: key() }));
      from = to;
      if (i < pieces - 1 && rand() < 0.3) control();
    }
    expected.push(['message', isText ? 'text' : 'binary', false, payload.toString('hex')]);
  }
  if (rand() < 0.3) {
    const code = VALID_CLOSE[int(VALID_CLOSE.length)]!;
    const reason = Buffer.from(['', 'bye', 'κόσμε', 'x'.repeat(int(124))][int(4)]!);
    const body = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), reason]);
    push(buildFrame({ opcode: 8, payload: body, mask: key() }));
    expected.push(['close', code, reason.toString('hex')]);
    // Anything after the close is ignored.
    if (rand() < 0.5) push(buildFrame({ opcode: 1, payload: 'ignored', mask: key() }));
  }
  return { bytes: Buffer.concat(parts), expected, frames, maxMessage, starts };
}

function mutate(c: Case, rand: () => number): void {
  const int = (n: number) => Math.floor(rand() * n);
  let b = c.bytes;
  const count = 1 + int(3);
  for (let m = 0; m < count; m++) {
    if (b.length === 0) break;
    const start = c.starts[int(c.starts.length)] ?? 0;
    const h = Math.min(start, b.length - 1);
    switch (int(12)) {
      case 0: b[int(b.length)]! ^= 1 << int(8); break; // flip a bit anywhere
      case 1: b[int(b.length)] = int(256); break; // any byte
      case 2: b[h] = (b[h]! & 0x8f) | (int(8) << 4); break; // RSV bits
      case 3: b[h] = (b[h]! & 0xf0) | int(16); break; // opcode
      case 4: b[h]! ^= 0x80; break; // FIN
      case 5: if (h + 1 < b.length) b[h + 1]! &= 0x7f; break; // clear the mask bit
      case 6: { // a huge or odd 64-bit length
        if (h + 10 > b.length) break;
        b[h + 1] = (b[h + 1]! & 0x80) | 127;
        const lengths = [0n, 126n, 65536n, BigInt(c.maxMessage), BigInt(c.maxMessage + 1), 2n ** 32n, 2n ** 53n - 1n, 2n ** 63n, 2n ** 64n - 1n];
        b.writeBigUInt64BE(lengths[int(lengths.length)]!, h + 2);
        break;
      }
      case 7: { // a 16-bit length
        if (h + 4 > b.length) break;
        b[h + 1] = (b[h + 1]! & 0x80) | 126;
        b.writeUInt16BE(int(65536), h + 2);
        break;
      }
      case 8: b = b.subarray(0, int(b.length)); break; // truncate
      case 9: { // insert random bytes
        const at = int(b.length + 1);
        const junk = Buffer.alloc(1 + int(20));
        for (let i = 0; i < junk.length; i++) junk[i] = int(256);
        b = Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
        break;
      }
      case 10: { // delete a range
        const at = int(b.length);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(16))]);
        break;
      }
      default: { // duplicate a slice (e.g. a frame twice)
        const at = int(b.length);
        const len = 1 + int(64);
        b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
      }
    }
  }
  c.bytes = b;
  c.expected = null;
}

/** Decodes a copy of bytes cut into random pieces (or whole). */
function run(bytes: Buffer, maxMessage: number, cuts: number[]): Event[] {
  const rec = new Recorder();
  const dec = new FrameDecoder(rec, { expectMasked: true, maxMessageSize: maxMessage });
  const copy = Buffer.from(bytes); // the decoder unmasks in place
  tracking = true;
  try {
    let from = 0;
    for (const cut of [...cuts, copy.length]) {
      if (cut > from) dec.push(copy.subarray(from, cut));
      from = Math.max(from, cut);
    }
  } finally {
    tracking = false;
  }
  return rec.events;
}

function randomCuts(n: number, rand: () => number): number[] {
  const r = rand();
  if (r < 0.15 && n < 2000) return Array.from({ length: Math.max(0, n - 1) }, (_, i) => i + 1); // one byte at a time
  const k = r < 0.3 ? 0 : 1 + Math.floor(rand() * 12);
  return Array.from({ length: k }, () => Math.floor(rand() * (n + 1))).sort((a, b) => a - b);
}

function checkInvariants(events: Event[], maxMessage: number, where: string): void {
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const last = i === events.length - 1;
    switch (e.type) {
      case 'message':
        assert.ok(e.data.length <= maxMessage, `${where}: message of ${e.data.length} > limit ${maxMessage}`);
        assert.equal(e.compressed, false, `${where}: compressed without an extension`);
        if (!e.isBinary) assert.ok(validUtf8(e.data), `${where}: invalid UTF-8 delivered as text`);
        break;
      case 'ping': case 'pong':
        assert.ok(e.data.length <= 125, `${where}: control payload of ${e.data.length}`);
        break;
      case 'close':
        assert.ok(last, `${where}: events after a close`);
        assert.ok(e.code === 1005 || (e.code >= 1000 && e.code <= 1003) || (e.code >= 1007 && e.code <= 1014) ||
          (e.code >= 3000 && e.code <= 4999), `${where}: close code ${e.code}`);
        assert.ok(validUtf8(e.reason), `${where}: invalid close reason`);
        break;
      case 'error':
        assert.ok(last, `${where}: events after an error`);
        assert.ok([1002, 1007, 1009].includes(e.code), `${where}: error code ${e.code} (${e.message})`);
        break;
    }
  }
}

test(`fuzz: >= ${TARGET_FRAMES} random and mutated frames in random splits (seed ${SEED})`, () => {
  const rand = prng(SEED);
  let frames = 0;
  let cases = 0;
  const outcomes = { clean: 0, close: 0, 1002: 0, 1007: 0, 1009: 0 } as Record<string, number>;
  gc();
  const baseline = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const started = Date.now();
  while (frames < TARGET_FRAMES) {
    const c = generate(rand);
    const r = rand();
    if (r < 0.05) {
      // Pure noise, sometimes behind a valid prefix.
      const noise = Buffer.alloc(1 + Math.floor(rand() * 200));
      for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(rand() * 256);
      c.bytes = rand() < 0.5 ? noise : Buffer.concat([c.bytes, noise]);
      c.expected = null;
    } else if (r < 0.7) {
      mutate(c, rand);
    }
    const where = `seed ${SEED} case ${cases}`;
    let whole: Event[];
    let pieces: Event[];
    largestAllocation = 0;
    try {
      whole = run(c.bytes, c.maxMessage, []);
      pieces = run(c.bytes, c.maxMessage, randomCuts(c.bytes.length, rand));
    } catch (err) {
      assert.fail(`${where}: the decoder threw: ${(err as Error).stack}\ninput ${c.bytes.subarray(0, 64).toString('hex')}`);
    }
    // (The Recorder's copies of delivered data count too: they are no bigger than the data.)
    // The bound: the message limit (control frame payloads, at most 125 bytes, may exceed a tiny one).
    assert.ok(largestAllocation <= Math.max(c.maxMessage, 125), `${where}: an allocation of ${largestAllocation} bytes with a limit of ${c.maxMessage}`);
    checkInvariants(whole, c.maxMessage, where);
    checkInvariants(pieces, c.maxMessage, where + ' (split)');
    assert.deepEqual(show(pieces), show(whole), `${where}: split and whole decodes differ`);
    if (c.expected) assert.deepEqual(show(whole), c.expected, `${where}: a valid stream was not decoded as built`);
    const end = whole[whole.length - 1];
    outcomes[end?.type === 'error' ? String(end.code) : end?.type === 'close' ? 'close' : 'clean']!++;
    frames += c.frames;
    cases++;
    if (cases % 2000 === 0) {
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
    }
  }
  gc();
  peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
  const took = Date.now() - started;
  console.log(`fuzz seed ${SEED}: ${frames} frames in ${cases} cases, ${took} ms; endings ${JSON.stringify(outcomes)}; ` +
    `ArrayBuffer growth after GC at most ${(peak / 1048576).toFixed(1)} MiB`);
  assert.ok(frames >= TARGET_FRAMES);
  // Every kind of ending was reached, so the fuzzer really exercises the error paths.
  for (const k of ['clean', 'close', '1002', '1007', '1009']) assert.ok(outcomes[k]! > 0, `no case ended with ${k}`);
  assert.ok(peak < 32 * 1024 * 1024, `ArrayBuffer memory grew by ${peak} bytes`);
});

test('a header announcing 2^53 - 1 bytes is refused with 1009 and allocates nothing big', () => {
  largestAllocation = 0;
  gc();
  const before = process.memoryUsage().arrayBuffers;
  const head = Buffer.from('82ff001fffffffffffff01020304', 'hex');
  const events = run(head, 16 * 1024 * 1024, [3, 7]);
  assert.deepEqual(show(events), [['error', 1009]]);
  assert.ok(largestAllocation < 1024, `largest allocation ${largestAllocation}`);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024);
});
