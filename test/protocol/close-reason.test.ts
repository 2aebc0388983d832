/** truncateCloseReason: a text cut to the 123 bytes of a close reason, never inside a character. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeClosePayload, MAX_CLOSE_REASON, truncateCloseReason } from '../../src/protocol/close.js';
import { isValidUtf8 } from '../../src/protocol/utf8.js';

test('short reasons are kept whole', () => {
  assert.deepEqual(truncateCloseReason(''), Buffer.alloc(0));
  assert.equal(truncateCloseReason('going away').toString(), 'going away');
  assert.equal(truncateCloseReason('x'.repeat(123)).length, 123);
  assert.equal(truncateCloseReason('é'.repeat(61) + 'x').length, 123);
});

test('long reasons are cut to 123 bytes on a character boundary', () => {
  assert.equal(truncateCloseReason('x'.repeat(500)).toString(), 'x'.repeat(123));
  // For each width of the character straddling byte 123, the cut falls before it.
  const vectors: Array<[string, number]> = [
    ['é', 2], // U+00E9: 2 bytes
    ['€', 3], // U+20AC: 3 bytes
    ['😀', 4], // U+1F600: 4 bytes
  ];
  for (const [char, width] of vectors) {
    for (let pad = 0; pad < width; pad++) {
      const text = 'a'.repeat(pad) + char.repeat(100);
      const cut = truncateCloseReason(text);
      assert.ok(cut.length <= MAX_CLOSE_REASON && cut.length > MAX_CLOSE_REASON - width, `${char} pad ${pad}: ${cut.length}`);
      assert.equal((cut.length - pad) % width, 0, `${char} pad ${pad}: cut inside a character`);
      assert.ok(isValidUtf8(cut));
      assert.ok(text.startsWith(cut.toString()));
      // And it always fits a close frame.
      assert.equal(encodeClosePayload(1000, cut).length, 2 + cut.length);
    }
  }
});

test('encodeClosePayload refuses a reason that does not fit rather than cutting it', () => {
  assert.throws(() => encodeClosePayload(1000, 'x'.repeat(124)), RangeError);
});
