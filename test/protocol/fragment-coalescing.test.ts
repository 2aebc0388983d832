import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFrame, decode, prng } from './helpers.js';

/**
 * Small fragments are gathered into shared buffers, large ones kept as they
 * arrive; whatever the mix, the message comes out whole and in order, and
 * text is still validated as it arrives.
 */
function fragmented(payload: Buffer, sizes: number[], opcode = 1): Buffer {
  const frames: Buffer[] = [];
  let at = 0;
  let i = 0;
  while (at < payload.length) {
    const n = Math.min(sizes[i++ % sizes.length]!, payload.length - at);
    const last = at + n === payload.length;
    frames.push(buildFrame({ opcode: frames.length === 0 ? opcode : 0, payload: payload.subarray(at, at + n), fin: last }));
    at += n;
  }
  return Buffer.concat(frames);
}

test('a message in 100,000 one-byte fragments decodes whole', () => {
  const payload = Buffer.alloc(100_000, 0x61);
  const events = decode(fragmented(payload, [1]));
  assert.equal(events.length, 1);
  assert.equal(events[0]!.type, 'message');
  assert.ok(events[0]!.type === 'message' && events[0]!.data.equals(payload));
});

test('small and large fragments interleaved keep their order, across coalescing buffers', () => {
  const rand = prng(7);
  const payload = Buffer.from(Array.from({ length: 300_000 }, () => Math.floor(rand() * 256)));
  for (const sizes of [[1, 3000], [1023, 1024, 1], [700, 700, 700, 20_000], [5, 16 * 1024, 9]]) {
    const events = decode(fragmented(payload, sizes, 2), [7, 1000, 65_536, 131_072]);
    assert.equal(events.length, 1, String(sizes));
    assert.ok(events[0]!.type === 'message' && events[0]!.data.equals(payload), `sizes ${sizes}`);
  }
});

test('UTF-8 split into one-byte fragments is valid; a bad byte among them fails at once with 1007', () => {
  const text = Buffer.from('héllo wörld — 日本語 🚀 '.repeat(200));
  const ok = decode(fragmented(text, [1]));
  assert.ok(ok.length === 1 && ok[0]!.type === 'message' && ok[0]!.data.equals(text));
  const bad = Buffer.from(text);
  bad[1001] = 0xff;
  const frames = fragmented(bad, [1]);
  // Cut the stream right after the bad byte's frame (7 bytes per masked one-byte frame; the first has 7 too).
  const events = decode(frames.subarray(0, 7 * 1002));
  assert.deepEqual(events.map((e) => e.type === 'error' ? e.code : e.type), [1007]);
});
