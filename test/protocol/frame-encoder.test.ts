/**
 * The frame encoder: exact header bytes at every length boundary, masking of
 * client frames (caller's payload untouched, fresh keys), text frames from
 * strings, and round trips through the decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, encodeHeader, encodeTextFrame, headerLength, nextMaskKey } from '../../src/protocol/frame-encoder.js';
import { CLIENT, SERVER, buildFrame, decode, show } from './helpers.js';

test('headers use the minimal length encoding at every boundary', () => {
  const cases: Array<[number, string]> = [
    [0, '8200'], [1, '8201'], [125, '827d'], [126, '827e007e'], [127, '827e007f'], [65535, '827effff'],
    [65536, '827f0000000000010000'], [16 * 1024 * 1024, '827f0000000001000000'], [2 ** 32, '827f0000000100000000'],
    [2 ** 40 + 5, '827f0000010000000005'],
  ];
  for (const [len, bytes] of cases) {
    assert.equal(encodeHeader(2, len).toString('hex'), bytes, `length ${len}`);
    assert.equal(headerLength(len, false), bytes.length / 2);
    assert.equal(headerLength(len, true), bytes.length / 2 + 4);
  }
});

test('FIN, RSV1 and the opcode land in the first byte', () => {
  assert.equal(encodeHeader(1, 0, false).toString('hex'), '0100');
  assert.equal(encodeHeader(0, 0, true).toString('hex'), '8000');
  assert.equal(encodeHeader(2, 3, true, true).toString('hex'), 'c203');
  assert.equal(encodeHeader(9, 0).toString('hex'), '8900');
});

test('server frames are unmasked and equal the reference builder', () => {
  for (const n of [0, 5, 125, 126, 65535, 65536, 70000]) {
    const payload = Buffer.alloc(n, 0x5a);
    assert.ok(encodeFrame(2, payload).equals(buildFrame({ opcode: 2, payload, mask: null })), `length ${n}`);
  }
});

test('a masked frame equals the reference and leaves the caller\'s payload untouched', () => {
  const key = Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]);
  const payload = Buffer.from('Hello');
  const frame = encodeFrame(1, payload, true, false, key);
  assert.equal(frame.toString('hex'), '818537fa213d7f9f4d5158'); // RFC 6455 §5.7
  assert.equal(payload.toString(), 'Hello');
  for (const n of [0, 1, 3, 4, 126, 1000, 65536]) {
    const p = Buffer.alloc(n, 0x61);
    assert.ok(encodeFrame(2, p, true, false, key).equals(buildFrame({ opcode: 2, payload: p, mask: key })), `length ${n}`);
  }
});

test('encodeTextFrame equals encodeFrame of the UTF-8 bytes (ASCII, short, long, multi-byte)', () => {
  const key = Uint8Array.from([1, 2, 3, 4]);
  for (const s of ['', 'a', 'hello', 'x'.repeat(41), 'x'.repeat(42), 'x'.repeat(200), 'κόσμε', '😀'.repeat(40), 'a'.repeat(70000) + 'é']) {
    assert.ok(encodeTextFrame(s).equals(encodeFrame(1, Buffer.from(s))), `unmasked ${s.slice(0, 10)} (${s.length})`);
    assert.ok(encodeTextFrame(s, true, false, key).equals(encodeFrame(1, Buffer.from(s), true, false, key)), `masked ${s.slice(0, 10)}`);
  }
  // A lone surrogate becomes U+FFFD, as Buffer.from does: the frame stays valid UTF-8.
  assert.deepEqual(show(decode(encodeTextFrame('a\ud800b'), [], CLIENT)), [['message', 'text', false, Buffer.from('a\ud800b').toString('hex')]]);
});

test('round trip: client frames through the server decoder, server frames through the client decoder', () => {
  for (const n of [0, 1, 125, 126, 65535, 65536, 300000]) {
    const payload = Buffer.alloc(n);
    for (let i = 0; i < n; i++) payload[i] = i & 0xff;
    const masked = encodeFrame(2, payload, true, false, nextMaskKey());
    assert.deepEqual(show(decode(masked, [7, 100], SERVER)), [['message', 'binary', false, payload.toString('hex')]]);
    assert.deepEqual(show(decode(encodeFrame(2, payload), [3], CLIENT)), [['message', 'binary', false, payload.toString('hex')]]);
  }
});

test('nextMaskKey gives 4 fresh bytes each call (CSPRNG pool)', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const k = nextMaskKey();
    assert.equal(k.length, 4);
    seen.add(Buffer.from(k).toString('hex'));
  }
  // 5000 draws from 2^32: a repeat is possible but many would mean a broken generator.
  assert.ok(seen.size > 4990, `only ${seen.size} distinct keys`);
});
