import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMask, WASM_THRESHOLD } from '../../src/protocol/mask.js';
import { maskJs } from '../../src/protocol/js-mask.js';
import { maskWasm, wasmMask, WASM_CHUNK, WASM_MASK_MODULE } from '../../src/protocol/wasm-mask.js';
import { applyMaskBytewise } from '../protocol/helpers.js';

// A seeded generator, so a failure can be reproduced.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

function randomBuffer(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rand() & 0xff;
  return b;
}

type MaskFn = (data: Uint8Array, key: Uint8Array, phase?: number) => unknown;

/** Every kernel must agree with the byte-at-a-time reference for all offsets, phases and lengths. */
function checkAgainstReference(fn: MaskFn, lengths: number[], seed: number): void {
  const rand = prng(seed);
  for (const len of lengths) {
    for (let offset = 0; offset < 4; offset++) {
      for (let phase = 0; phase < 4; phase++) {
        // Guard bytes on both sides catch writes outside the view.
        const backing = randomBuffer(rand, len + offset + 8);
        const key = randomBuffer(rand, 4);
        const expected = Buffer.from(backing);
        applyMaskBytewise(expected.subarray(offset + 4, offset + 4 + len), key, phase);
        fn(backing.subarray(offset + 4, offset + 4 + len), key, phase);
        assert.ok(backing.equals(expected), `len ${len} offset ${offset} phase ${phase}`);
      }
    }
  }
}

const LENGTHS = [0, 1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 125, 126, 1000, 1024,
  WASM_THRESHOLD - 1, WASM_THRESHOLD, WASM_THRESHOLD + 3, 65535, 65536, WASM_CHUNK + 17, 3 * WASM_CHUNK + 5];

test('the wasm module is well-formed and SIMD is available on this Node', () => {
  const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
  assert.equal(wasm.validate(WASM_MASK_MODULE), true);
  assert.notEqual(wasmMask, null);
});

test('JS word kernel agrees with the bytewise reference', () => {
  checkAgainstReference((d, k, p = 0) => maskJs(d, k, p), LENGTHS, 1);
});

test('wasm SIMD kernel agrees with the bytewise reference, in place', () => {
  checkAgainstReference((d, k, p = 0) => maskWasm(wasmMask!, d, k, p, d, 0, false), LENGTHS, 2);
});

test('applyMask (dispatching) agrees with the reference, and masking twice restores the data', () => {
  checkAgainstReference(applyMask, LENGTHS, 3);
  const rand = prng(4);
  for (const len of [10, 500, 70000]) {
    const data = randomBuffer(rand, len);
    const copy = Buffer.from(data);
    const key = randomBuffer(rand, 4);
    applyMask(data, key, 1);
    applyMask(data, key, 1);
    assert.ok(data.equals(copy));
  }
});

test('piecewise masking with phases equals masking the whole', () => {
  const rand = prng(5);
  const whole = randomBuffer(rand, 50000);
  const key = randomBuffer(rand, 4);
  const expected = Buffer.from(whole);
  applyMaskBytewise(expected, key, 0);
  let pos = 0;
  while (pos < whole.length) {
    const n = Math.min(whole.length - pos, 1 + (rand() % 9000));
    applyMask(whole.subarray(pos, pos + n), key, pos & 3);
    pos += n;
  }
  assert.ok(whole.equals(expected));
});

test('kernels cope with buffers of many ArrayBuffers in turn (view cache)', () => {
  const rand = prng(6);
  const key = randomBuffer(rand, 4);
  for (let round = 0; round < 50; round++) {
    const len = 16 + (rand() % 3000);
    const buf = Buffer.alloc(len + 3); // own ArrayBuffer, or a slice of the pool
    const pooled = Buffer.from(randomBuffer(rand, len));
    for (const target of [buf.subarray(3), pooled]) {
      const expected = Buffer.from(target);
      applyMaskBytewise(expected, key, round & 3);
      maskJs(target, key, round & 3);
      assert.ok(target.equals(expected), `round ${round}`);
    }
  }
});
