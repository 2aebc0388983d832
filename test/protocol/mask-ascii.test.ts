/**
 * The ASCII flag fused into unmasking (wasm mask_ascii, the JS kernel's
 * flag, unmask, unmaskInto) and the decoder's use of it to skip the UTF-8 pass.
 * Every kernel must give the same bytes as the bytewise reference and the same
 * flag, with a single high byte at every position; the decoder with wasm and
 * without it (PUSHWIRE_NO_WASM=1, a child process) must report the same
 * messages and fail at the same chunk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { unmask, unmaskInto, WASM_THRESHOLD } from '../../src/protocol/mask.js';
import { maskJsAscii } from '../../src/protocol/js-mask.js';
import { maskWasm, wasmMask, WASM_CHUNK } from '../../src/protocol/wasm-mask.js';
import { applyMaskBytewise } from '../protocol/helpers.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';

/** In the PUSHWIRE_NO_WASM child this file only decodes and prints; no tests are registered there. */
const IN_CHILD = process.env.ASCII_FUSED_CHILD === '1';
const check = IN_CHILD ? (_name: string, _fn: () => void) => {} : test;

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

/** ASCII bytes (0x00..0x7f) with at most one high byte, at `high` (or none when -1). */
function plain(rand: () => number, n: number, high: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rand() & 0x7f;
  if (high >= 0) b[high] = 0x80 | (rand() & 0x7f);
  return b;
}

/** What every kernel must produce: the masked input, and whether the unmasked bytes are all ASCII. */
interface Case { masked: Buffer; unmasked: Buffer; key: Buffer; phase: number; ascii: boolean }

function makeCase(rand: () => number, n: number, high: number): Case {
  const unmasked = plain(rand, n, high);
  const key = Buffer.allocUnsafe(4);
  key.writeUInt32LE(rand());
  const phase = rand() & 3;
  const masked = Buffer.from(unmasked);
  applyMaskBytewise(masked, key, phase);
  return { masked, unmasked, key, phase, ascii: high < 0 };
}

type InPlace = (data: Uint8Array, key: Uint8Array, phase: number) => boolean;
type Into = (src: Uint8Array, key: Uint8Array, phase: number, dst: Uint8Array, at: number) => boolean;

const inPlace: Array<[string, InPlace]> = [
  ['maskJsAscii', maskJsAscii],
  ['unmask', unmask],
  ['maskWasm in place', (d, k, p) => maskWasm(wasmMask!, d, k, p, d, 0, true)],
];
const into: Array<[string, Into]> = [
  ['unmaskInto', unmaskInto],
  ['maskWasm into', (s, k, p, d, a) => maskWasm(wasmMask!, s, k, p, d, a, true)],
  ['fallback (set + maskJsAscii)', (s, k, p, d, a) => { d.set(s, a); return maskJsAscii(d.subarray(a, a + s.length), k, p); }],
];

/** Runs every kernel on c at byte offset `offset` (word alignment) and checks bytes, flag and guard bytes. */
function checkAll(c: Case, offset: number, label: string): void {
  const n = c.masked.length;
  for (const [name, fn] of inPlace) {
    const backing = Buffer.alloc(n + offset + 8, 0xee);
    c.masked.copy(backing, offset + 4);
    const ascii = fn(backing.subarray(offset + 4, offset + 4 + n), c.key, c.phase);
    assert.equal(ascii, c.ascii, `${name} flag, ${label}`);
    assert.ok(backing.subarray(offset + 4, offset + 4 + n).equals(c.unmasked), `${name} bytes, ${label}`);
    assert.ok(backing.subarray(0, offset + 4).every((b) => b === 0xee) && backing.subarray(offset + 4 + n).every((b) => b === 0xee), `${name} guards, ${label}`);
  }
  for (const [name, fn] of into) {
    const src = Buffer.from(c.masked);
    const dst = Buffer.alloc(n + offset + 8, 0xee);
    const ascii = fn(src, c.key, c.phase, dst, offset + 4);
    assert.equal(ascii, c.ascii, `${name} flag, ${label}`);
    assert.ok(dst.subarray(offset + 4, offset + 4 + n).equals(c.unmasked), `${name} bytes, ${label}`);
    assert.ok(src.equals(c.masked), `${name} left its source alone, ${label}`);
    assert.ok(dst.subarray(0, offset + 4).every((b) => b === 0xee) && dst.subarray(offset + 4 + n).every((b) => b === 0xee), `${name} guards, ${label}`);
  }
}

check('wasm SIMD is available, with both kernels', () => {
  assert.notEqual(wasmMask, null);
  assert.equal(typeof wasmMask!.kernelAscii, 'function');
});

check('mask_ascii on wasm memory: XOR as mask() does, and 0 only when no byte has its high bit set', () => {
  const w = wasmMask!;
  const rand = prng(11);
  const key = 0x9e3779b9 | 0;
  for (let n = 16; n <= 1024; n += n < 160 ? 16 : 112) {
    for (let high = -1; high < n; high++) {
      const c = plain(rand, n, high);
      // Mask it so that the kernel's output is c.
      const masked = Buffer.from(c);
      applyMaskBytewise(masked, Buffer.from([key & 0xff, (key >>> 8) & 0xff, (key >>> 16) & 0xff, key >>> 24]), 0);
      w.memory.set(masked, 0);
      const flag = w.kernelAscii(0, n, key);
      assert.equal(flag === 0, high < 0, `n ${n}, high byte at ${high}: flag ${flag}`);
      assert.ok(Buffer.from(w.memory.buffer, 0, n).equals(c), `n ${n}, high byte at ${high}: bytes`);
      // And plain mask() gives the same bytes back.
      w.kernel(0, n, key);
      assert.ok(Buffer.from(w.memory.buffer, 0, n).equals(masked), `n ${n}: mask() undoes it`);
    }
  }
});

check('every kernel agrees on bytes and flag, one high byte at every position (small and around the wasm threshold)', () => {
  const rand = prng(12);
  for (const n of [0, 1, 3, 4, 5, 15, 16, 17, 31, 33, 63, 64, 65, 127, WASM_THRESHOLD - 1, WASM_THRESHOLD, WASM_THRESHOLD + 19]) {
    const offset = n & 3;
    for (let high = -1; high < n; high++) checkAll(makeCase(rand, n, high), offset, `n ${n} high ${high} offset ${offset}`);
  }
});

check('every kernel agrees on large buffers: high byte near every 16 KiB chunk edge, in the tail, and sampled', () => {
  const rand = prng(13);
  for (const n of [WASM_CHUNK, WASM_CHUNK + 5, 3 * WASM_CHUNK + 13, 65536 + 7]) {
    const positions = new Set<number>([-1, 0, 1, n - 1, n - 2]);
    for (let edge = 0; edge <= n; edge += WASM_CHUNK) for (let d = -17; d <= 17; d++) positions.add(edge + d);
    for (let t = (n & ~15) - 2; t < n; t++) positions.add(t);
    for (let p = 0; p < n; p += 997) positions.add(p);
    for (const high of positions) {
      if (high < -1 || high >= n) continue;
      checkAll(makeCase(rand, n, high), rand() & 3, `n ${n} high ${high}`);
    }
  }
});

// ---- the decoder: with wasm here, without it in a child process ----

/** A stream of masked text frames (some with bad UTF-8) and the chunk cuts to feed it with. */
function decoderCases(): Array<{ name: string; stream: Buffer; cut: number }> {
  const rand = prng(14);
  const out: Array<{ name: string; stream: Buffer; cut: number }> = [];
  const key = () => { const k = Buffer.allocUnsafe(4); k.writeUInt32LE(rand()); return k; };
  const frame = (payload: Buffer) => encodeFrame(1, payload, true, false, key());
  const ascii = (n: number) => Buffer.from(Array.from({ length: n }, () => 0x20 + (rand() % 95)));
  for (const n of [20, 1000, 3000, 70000, 300000]) {
    for (const cut of [7, 1000, 16384, 65536]) {
      out.push({ name: `ascii ${n} cut ${cut}`, stream: frame(ascii(n)), cut });
      // A multi-byte sequence left open at a piece's end, then pure ASCII: must fail at that next piece.
      const open = ascii(n);
      const at = Math.min(n - 1, Math.max(0, cut - 3));
      open[at] = 0xe2;
      out.push({ name: `open sequence ${n} cut ${cut}`, stream: frame(open), cut });
      // Valid: the sequence is completed across the cut.
      const split = ascii(n);
      if (n > at + 2) { split[at] = 0xe2; split[at + 1] = 0x9c; split[at + 2] = 0x93; }
      out.push({ name: `split sequence ${n} cut ${cut}`, stream: frame(split), cut });
      // One stray high byte in the middle.
      const bad = ascii(n);
      bad[n >> 1] = 0xc0;
      out.push({ name: `bad byte ${n} cut ${cut}`, stream: frame(bad), cut });
    }
  }
  return out;
}

/** Feeds each case in chunks; returns per case: message lengths and hashes, error code and the chunk it came on. */
function runDecoder(): string[] {
  const results: string[] = [];
  for (const c of decoderCases()) {
    const events: string[] = [];
    let chunk = 0;
    const d = new FrameDecoder({
      onMessage: (data) => events.push(`msg ${data.length} ${Buffer.from(data).toString('base64').slice(0, 40)} ${sum(data)}`),
      onPing: () => {}, onPong: () => {}, onClose: () => {},
      onError: (e) => events.push(`error ${e.closeCode} at chunk ${chunk}`),
    }, { expectMasked: true, maxMessageSize: 16 * 1024 * 1024 });
    for (let p = 0; p < c.stream.length && !d.done; p += c.cut, chunk++) d.push(Buffer.from(c.stream.subarray(p, p + c.cut)));
    results.push(`${c.name}: ${events.join('; ')}`);
  }
  return results;
}

function sum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s = (s * 31 + b[i]!) >>> 0;
  return s;
}

if (IN_CHILD) {
  process.stdout.write(JSON.stringify({ wasm: wasmMask !== null, results: runDecoder() }));
} else {
  check('the decoder reports the same messages and fails at the same chunk with wasm and without (PUSHWIRE_NO_WASM=1)', () => {
    const ours = runDecoder();
    // Sanity: the open-sequence cases fail, the split ones do not.
    assert.ok(ours.filter((r) => r.startsWith('open sequence')).every((r) => r.includes('error 1007')));
    assert.ok(ours.filter((r) => r.startsWith('split sequence') || r.startsWith('ascii')).every((r) => !r.includes('error')));
    assert.ok(ours.filter((r) => r.startsWith('bad byte')).every((r) => r.includes('error 1007')));
    const env: NodeJS.ProcessEnv = { ...process.env, ASCII_FUSED_CHILD: '1', PUSHWIRE_NO_WASM: '1' };
    delete env.NODE_TEST_CONTEXT; // else the child's node:test harness takes over its stdout
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 0, child.stderr);
    const theirs = JSON.parse(child.stdout) as { wasm: boolean; results: string[] };
    assert.equal(theirs.wasm, false, 'the child ran without wasm');
    assert.deepEqual(theirs.results, ours);
  });

  check('fail-fast: an open sequence followed by a pure-ASCII piece fails on that piece', () => {
    const payload = Buffer.alloc(10000, 0x61);
    payload[4999] = 0xe2; // the first piece ends inside a 3-byte sequence
    const stream = encodeFrame(1, payload, true, false, Buffer.from([1, 2, 3, 4]));
    const header = stream.length - payload.length;
    const errors: number[] = [];
    const d = new FrameDecoder({
      onMessage: () => assert.fail('no message expected'), onPing: () => {}, onPong: () => {}, onClose: () => {},
      onError: (e) => errors.push(e.closeCode),
    }, { expectMasked: true, maxMessageSize: 1 << 20 });
    d.push(Buffer.from(stream.subarray(0, header + 5000)));
    assert.deepEqual(errors, []);
    d.push(Buffer.from(stream.subarray(header + 5000, header + 7000))); // pure ASCII, but a continuation was due
    assert.deepEqual(errors, [1007]);
  });
}
