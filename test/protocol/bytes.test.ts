/**
 * The codecs' bytes: Buffers on Node, and the portable functions the browser
 * client runs (no Buffer), which must agree with Buffer on every vector.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesOf, fromBase64, portableBytesOf, portableFromBase64, portableToBase64, toBase64 } from '../../src/protocol/bytes.js';

const vectors: Array<[number[], string]> = [
  [[], ''], [[0], 'AA=='], [[1, 2], 'AQI='], [[1, 2, 3], 'AQID'], [[1, 2, 3, 4], 'AQIDBA=='],
  [[0xff, 0xfe, 0x00, 0x80, 0x7f], '//4AgH8='],
];

test('portable base64 matches Buffer, both ways', () => {
  for (const [bytes, text] of vectors) {
    assert.equal(portableToBase64(Uint8Array.from(bytes)), text, text);
    assert.equal(toBase64(Uint8Array.from(bytes)), text, text);
    assert.deepEqual([...portableFromBase64(text)], bytes, text);
    assert.deepEqual([...fromBase64(text)], bytes, text);
  }
  // Unpadded, as some encoders send it.
  assert.deepEqual([...portableFromBase64('AQIDBA')], [1, 2, 3, 4]);
  // Every byte value, and more than one chunk of String.fromCharCode.
  const big = Uint8Array.from({ length: 0x8000 * 2 + 7 }, (_, i) => (i * 7) & 0xff);
  const text = Buffer.from(big).toString('base64');
  assert.equal(portableToBase64(big), text);
  assert.deepEqual(portableFromBase64(text), new Uint8Array(big));
});

test('a view is encoded as its own bytes, not its whole buffer', () => {
  const whole = Uint8Array.from([9, 1, 2, 3, 9]);
  assert.equal(portableToBase64(whole.subarray(1, 4)), 'AQID');
  assert.equal(toBase64(whole.subarray(1, 4)), 'AQID');
});

test('bytesOf: a Buffer as it is, else a view on the same memory; on Node a Buffer', () => {
  const buffer = Buffer.from([1, 2]);
  assert.equal(bytesOf(buffer), buffer);
  const array = new ArrayBuffer(4);
  const ofArray = bytesOf(array);
  assert.ok(Buffer.isBuffer(ofArray));
  assert.equal(ofArray.buffer, array);
  const view = new DataView(array, 1, 2);
  const ofView = bytesOf(view);
  assert.ok(Buffer.isBuffer(ofView));
  assert.deepEqual([ofView.byteOffset, ofView.byteLength], [1, 2]);
  const portable = portableBytesOf(view);
  assert.ok(!Buffer.isBuffer(portable));
  assert.deepEqual([portable.buffer === array, portable.byteOffset, portable.byteLength], [true, 1, 2]);
  assert.equal(portableBytesOf(array).buffer, array);
});
