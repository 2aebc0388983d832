/**
 * Masking (RFC 6455 §5.3) against the byte-wise reference: every byteOffset
 * 0..7 (word alignment), every phase 0..3, many lengths, both kernels, and
 * the bytes around the masked range untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMask } from '../../src/protocol/mask.js';
import { maskJs, maskJsAscii } from '../../src/protocol/js-mask.js';
import { applyMaskBytewise, prng } from './helpers.js';

const kernels: Array<[string, (d: Uint8Array, k: Uint8Array, p?: number) => void]> = [
  ['applyMask', applyMask],
  ['maskJs', (d, k, p = 0) => maskJs(d, k, p)],
  ['maskJsAscii', (d, k, p = 0) => { maskJsAscii(d, k, p); }],
];

const LENGTHS = [
  ...Array.from({ length: 70 }, (_, i) => i),
  100, 127, 128, 255, 256, 1000, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 65535, 65536, 65539, 200_001,
];
const rand = prng(42);

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

for (const [name, kernel] of kernels) {
  test(`${name} equals the byte-wise reference for offsets 0..7, phases 0..3 and ${LENGTHS.length} lengths`, () => {
    const key = Uint8Array.from([0x12, 0x9a, 0xff, 0x01]);
    for (const len of LENGTHS) {
      const source = randomBytes(len + 16);
      for (let offset = 0; offset < 8; offset++) {
        for (let phase = 0; phase < 4; phase++) {
          const a = Buffer.from(source);
          const b = Buffer.from(source);
          kernel(a.subarray(offset, offset + len), key, phase);
          applyMaskBytewise(b.subarray(offset, offset + len), key, phase);
          if (!a.equals(b)) {
            const at = a.findIndex((x, i) => x !== b[i]);
            assert.fail(`len ${len} offset ${offset} phase ${phase}: first difference at byte ${at}` +
              (at < offset || at >= offset + len ? ' (outside the masked range!)' : ''));
          }
        }
      }
    }
  });

  test(`${name}: masking twice gives the original; random keys; views into a shared ArrayBuffer`, () => {
    const slab = new ArrayBuffer(1 << 16);
    const whole = new Uint8Array(slab);
    for (let n = 0; n < 300; n++) {
      const key = randomBytes(4);
      const start = Math.floor(rand() * 4000);
      const len = Math.floor(rand() * 9000);
      for (let i = 0; i < whole.length; i++) whole[i] = i & 0xff;
      const view = new Uint8Array(slab, start, len);
      const original = Buffer.from(view);
      const expected = Buffer.from(view);
      applyMaskBytewise(expected, key, n & 3);
      kernel(view, key, n & 3);
      assert.ok(Buffer.from(view).equals(expected), `len ${len} start ${start}`);
      kernel(view, key, n & 3);
      assert.ok(Buffer.from(view).equals(original));
      // Bytes around the view are untouched.
      if (start > 0) assert.equal(whole[start - 1], (start - 1) & 0xff);
      if (start + len < whole.length) assert.equal(whole[start + len], (start + len) & 0xff);
    }
  });

  test(`${name}: unmasking a payload in pieces (phase = bytes before) equals unmasking it whole`, () => {
    const key = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);
    const payload = randomBytes(10_000);
    const whole = Buffer.from(payload);
    applyMaskBytewise(whole, key, 0);
    for (let trial = 0; trial < 50; trial++) {
      const copy = Buffer.from(payload);
      let at = 0;
      while (at < copy.length) {
        const n = Math.min(copy.length - at, 1 + Math.floor(rand() * (trial < 25 ? 9 : 3000)));
        kernel(copy.subarray(at, at + n), key, at & 3);
        at += n;
      }
      assert.ok(copy.equals(whole), `trial ${trial}`);
    }
  });
}

test('the RFC 6455 §5.7 example: "Hello" masked with 37 fa 21 3d', () => {
  const data = Buffer.from('Hello');
  applyMask(data, Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]));
  assert.equal(data.toString('hex'), '7f9f4d5158');
});
