/** Close codes (RFC 6455 §7.4 and the IANA registry) and close payloads. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeClosePayload, isValidCloseCode, parseClosePayload } from '../../src/protocol/close.js';
import { ProtocolError } from '../../src/protocol/errors.js';

test('isValidCloseCode over all 65536 codes matches the registry', () => {
  const expected = (c: number) =>
    [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014].includes(c) || (c >= 3000 && c <= 4999);
  for (let c = 0; c < 65536; c++) assert.equal(isValidCloseCode(c), expected(c), String(c));
});

test('parseClosePayload: empty means 1005 (no status)', () => {
  const r = parseClosePayload(Buffer.alloc(0));
  assert.equal(r.code, 1005);
  assert.equal(r.reason.length, 0);
});

test('parseClosePayload: code and reason', () => {
  const r = parseClosePayload(Buffer.from([0x0f, 0xa0, ...Buffer.from('κόσμε')]));
  assert.equal(r.code, 4000);
  assert.equal(r.reason.toString(), 'κόσμε');
});

function throwsWith(payload: number[], code: number): void {
  assert.throws(() => parseClosePayload(Buffer.from(payload)), (e: unknown) => e instanceof ProtocolError && e.closeCode === code);
}

test('parseClosePayload: a 1-byte payload is a protocol error (1002)', () => throwsWith([0x03], 1002));
test('parseClosePayload: invalid codes are protocol errors (1002)', () => {
  for (const c of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) throwsWith([c >> 8, c & 0xff], 1002);
});
test('parseClosePayload: an invalid or truncated UTF-8 reason is 1007', () => {
  throwsWith([0x03, 0xe8, 0xff], 1007);
  throwsWith([0x03, 0xe8, 0x41, 0xe2, 0x82], 1007);
  throwsWith([0x03, 0xe8, 0xed, 0xa0, 0x80], 1007);
});

test('encodeClosePayload: 1005 gives an empty body; code and reason round-trip', () => {
  assert.equal(encodeClosePayload(1005).length, 0);
  const body = encodeClosePayload(1001, 'going away');
  assert.equal(body.toString('hex'), '03e9' + Buffer.from('going away').toString('hex'));
  assert.deepEqual(parseClosePayload(body).code, 1001);
  assert.equal(encodeClosePayload(1000, 'x'.repeat(123)).length, 125);
  assert.throws(() => encodeClosePayload(1000, 'x'.repeat(124)), RangeError);
  assert.throws(() => encodeClosePayload(1000, 'é'.repeat(62)), RangeError); // 124 bytes
});
