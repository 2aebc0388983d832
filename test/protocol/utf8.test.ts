/**
 * UTF-8 validation (RFC 3629 as RFC 6455 §8.1 requires): whole-buffer and
 * incremental, checked against fixed vectors, against TextDecoder (fatal) on
 * random input, and for fail-fast: write() must return false on the piece
 * holding the first byte that makes the input invalid, never later.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidUtf8, Utf8Validator } from '../../src/protocol/utf8.js';
import { prng } from './helpers.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const fatal = new TextDecoder('utf-8', { fatal: true });
function reference(b: Uint8Array): boolean {
  try {
    fatal.decode(b);
    return true;
  } catch {
    return false;
  }
}

const VALID = [
  '', '00', '7f', 'c280', 'dfbf', 'e0a080', 'ed9fbf', 'ee8080', 'efbfbf', 'f0908080', 'f48fbfbf',
  'cebae1bdb9cf83cebcceb5', // κόσμε
  'efbbbf41', // BOM + A
];

/** Invalid inputs and the index of the first byte that makes them invalid (-1: only truncated at the end). */
const INVALID: Array<[string, number]> = [
  ['80', 0], ['bf', 0], ['41 80', 1], ['c0', 0], ['c1', 0], ['c0 af', 0], ['c1 bf', 0],
  ['e0 80 af', 1], ['e0 9f bf', 1], ['f0 80 80 af', 1], ['f0 8f bf bf', 1],
  ['ed a0 80', 1], ['ed bf bf', 1], ['ed ad bf', 1], ['eda080 edb080', 1],
  ['f4 90 80 80', 1], ['f4 bf bf bf', 1], ['f5 80 80 80', 0], ['f8 88 80 80 80', 0], ['fc 84 80 80 80 80', 0], ['fe', 0], ['ff', 0],
  ['c2 41', 1], ['e0 a0 41', 2], ['f0 90 80 41', 3], ['e2 82 c2', 2], ['c2 c2', 1],
  ['c2', -1], ['e0 a0', -1], ['f0 90 80', -1], ['41 42 e2', -1], ['f4 8f bf', -1],
  ['cebae1bdb9cf83cebcceb5 f4908080 656469746564', 12],
];

describe('isValidUtf8', () => {
  for (const v of VALID) test(`valid: ${v || '(empty)'}`, () => assert.equal(isValidUtf8(hex(v)), true));
  for (const [v] of INVALID) test(`invalid: ${v}`, () => assert.equal(isValidUtf8(hex(v)), false));

  test('agrees with TextDecoder on every boundary code point, in short and long buffers', () => {
    for (const cp of [0, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xfffe, 0xffff, 0x10000, 0x10ffff]) {
      const one = Buffer.from(String.fromCodePoint(cp));
      assert.equal(isValidUtf8(one), true, cp.toString(16));
      const long = Buffer.concat([Buffer.alloc(40, 'a'), one, Buffer.alloc(40, 'b')]);
      assert.equal(isValidUtf8(long), true, `${cp.toString(16)} in a long buffer`);
    }
  });

  test('agrees with TextDecoder (fatal) on 20,000 random inputs of 0 to 80 bytes', () => {
    const rand = prng(6455);
    const pool = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff];
    for (let n = 0; n < 20000; n++) {
      const len = Math.floor(rand() * 81);
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) b[i] = rand() < 0.5 ? pool[Math.floor(rand() * pool.length)]! : Math.floor(rand() * 256);
      // Mostly-valid inputs too: real text with one byte changed.
      if (n % 3 === 0) {
        const t = Buffer.from('añ€😀'.repeat(1 + (len % 20)));
        t[Math.floor(rand() * t.length)] = Math.floor(rand() * 256);
        assert.equal(isValidUtf8(t), reference(t), t.toString('hex'));
      }
      assert.equal(isValidUtf8(b), reference(b), b.toString('hex'));
    }
  });
});

/** Feeds pieces; returns the index of the piece where write() returned false, or -1, and end(). */
function feed(pieces: Uint8Array[]): { failedAt: number; ended: boolean } {
  const v = new Utf8Validator();
  for (let i = 0; i < pieces.length; i++) if (!v.write(pieces[i]!)) return { failedAt: i, ended: false };
  return { failedAt: -1, ended: v.end() };
}

function split(b: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, b.length]) { out.push(b.subarray(from, c)); from = c; }
  return out;
}

describe('Utf8Validator (incremental)', () => {
  test('valid vectors are valid at every split point and byte by byte', () => {
    for (const v of VALID) {
      const b = hex(v);
      for (let c = 0; c <= b.length; c++) assert.deepEqual(feed(split(b, [c])), { failedAt: -1, ended: true }, `${v} split at ${c}`);
      assert.deepEqual(feed([...b].map((x) => Uint8Array.of(x))), { failedAt: -1, ended: b.length === 0 || true });
    }
  });

  test('fail-fast: fed one byte at a time, write() fails exactly at the first bad byte', () => {
    for (const [v, at] of INVALID) {
      const b = hex(v);
      const r = feed([...b].map((x) => Uint8Array.of(x)));
      if (at === -1) assert.deepEqual(r, { failedAt: -1, ended: false }, `${v}: truncated, only end() can tell`);
      else assert.equal(r.failedAt, at, `${v}: failed at byte ${r.failedAt}, first bad byte is ${at}`);
    }
  });

  test('fail-fast at every split point: the piece holding the first bad byte fails', () => {
    for (const [v, at] of INVALID) {
      const b = hex(v);
      for (let c = 0; c <= b.length; c++) {
        const r = feed(split(b, [c]));
        if (at === -1) assert.deepEqual(r, { failedAt: -1, ended: false }, `${v} split at ${c}`);
        else assert.equal(r.failedAt, at < c ? 0 : 1, `${v} split at ${c}`);
      }
    }
  });

  test('the bad byte after a long valid prefix in the same piece, and across pieces', () => {
    const prefix = Buffer.from('κόσμε '.repeat(50));
    for (const bad of ['ff', 'c0af', 'eda080', 'f4908080']) {
      const b = Buffer.concat([prefix, hex(bad), Buffer.from('tail')]);
      assert.equal(feed([b]).failedAt, 0);
      assert.equal(feed([prefix, hex(bad), Buffer.from('tail')]).failedAt, 1);
      assert.equal(feed([prefix.subarray(0, 7), Buffer.concat([prefix.subarray(7), hex(bad)])]).failedAt, 1);
    }
  });

  test('random splits of random inputs agree with TextDecoder, and fail no later than the bad byte', () => {
    const rand = prng(13);
    for (let n = 0; n < 5000; n++) {
      const base = Buffer.from('a£€😀'.repeat(1 + Math.floor(rand() * 10)));
      if (rand() < 0.7) base[Math.floor(rand() * base.length)] = Math.floor(rand() * 256);
      const cuts = [...new Set(Array.from({ length: Math.floor(rand() * 5) }, () => Math.floor(rand() * base.length)))].sort((a, b) => a - b);
      const pieces = split(base, cuts);
      const r = feed(pieces);
      const ok = reference(base);
      assert.equal(r.failedAt === -1 && r.ended, ok, base.toString('hex'));
      if (r.failedAt >= 0) {
        // Everything before the failing piece is still a valid prefix.
        const before = Buffer.concat(pieces.slice(0, r.failedAt));
        assert.equal(feed([before]).failedAt, -1);
      }
      // The byte-by-byte failure index is the first bad byte: the prefix before it is valid, with it not.
      const byByte = feed([...base].map((x) => Uint8Array.of(x)));
      if (byByte.failedAt >= 0) {
        assert.equal(feed([base.subarray(0, byByte.failedAt)]).failedAt, -1);
        assert.equal(feed([base.subarray(0, byByte.failedAt + 1)]).failedAt, 0);
      }
    }
  });

  test('reset() makes a failed or half-way validator fresh again', () => {
    const v = new Utf8Validator();
    assert.equal(v.write(hex('e2 82')), true);
    v.reset();
    assert.equal(v.write(Buffer.from('plain')), true);
    assert.equal(v.end(), true);
    assert.equal(v.write(hex('ff')), false);
    v.reset();
    assert.equal(v.write(hex('c3a9')), true);
    assert.equal(v.end(), true);
  });
});
