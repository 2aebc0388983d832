import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';

// The decoder's speed paths (whole frame in a chunk, message assembled in place
// through the wasm kernel, split headers) must give the same messages as any other split.

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

interface Got { messages: { data: Buffer; isBinary: boolean }[]; errors: number[] }

function decodeAll(stream: Buffer, cuts: number[]): Got {
  const got: Got = { messages: [], errors: [] };
  const d = new FrameDecoder({
    onMessage: (data, isBinary) => got.messages.push({ data: Buffer.from(data), isBinary }),
    onPing: () => {}, onPong: () => {}, onClose: () => {},
    onError: (e) => got.errors.push(e.closeCode),
  }, { expectMasked: true, maxMessageSize: 16 * 1024 * 1024 });
  let pos = 0;
  for (const cut of [...cuts, stream.length]) {
    if (cut <= pos) continue;
    // A fresh copy per chunk, as a socket gives: the decoder unmasks in place.
    d.push(Buffer.from(stream.subarray(pos, cut)));
    pos = cut;
  }
  return got;
}

function text(rand: () => number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let i = 0;
  while (i < n) {
    const r = rand() % 10;
    if (r === 0 && i + 3 <= n) { out[i++] = 0xe2; out[i++] = 0x9c; out[i++] = 0x93; } // ✓
    else if (r === 1 && i + 2 <= n) { out[i++] = 0xc3; out[i++] = 0xa9; } // é
    else out[i++] = 0x61 + (rand() % 26);
  }
  return out;
}

function key(rand: () => number): Buffer {
  const k = Buffer.allocUnsafe(4);
  k.writeUInt32LE(rand());
  return k;
}

test('large and small messages decode the same whatever the chunk splits', () => {
  const rand = prng(7);
  const sizes = [0, 1, 16, 125, 126, 1000, 2047, 2048, 5000, 65535, 65536, 70000, 300000, 1 << 20];
  const payloads = sizes.map((n, i) => (i % 2 === 0 ? text(rand, n) : Buffer.from(text(rand, n).map((b) => b ^ 0x55))));
  const frames = payloads.map((p, i) => encodeFrame(i % 2 === 0 ? 1 : 2, p, true, false, key(rand)));
  const stream = Buffer.concat(frames);
  const splits: number[][] = [
    [], // one chunk
    Array.from({ length: Math.ceil(stream.length / 65536) }, (_, i) => (i + 1) * 65536), // socket-sized reads
    Array.from({ length: 400 }, () => rand() % stream.length).sort((a, b) => a - b), // random
  ];
  // Chunks of 1..40 bytes across the start (split headers, tiny first pieces).
  const tiny: number[] = [];
  for (let p = 0; p < 200_000; p += 1 + (rand() % 40)) tiny.push(p);
  splits.push(tiny);
  for (const cuts of splits) {
    const got = decodeAll(stream, cuts);
    assert.deepEqual(got.errors, []);
    assert.equal(got.messages.length, payloads.length);
    got.messages.forEach((m, i) => {
      assert.equal(m.isBinary, i % 2 === 1, `message ${i}`);
      assert.ok(m.data.equals(payloads[i]!), `message ${i} (${payloads[i]!.length} B) differs`);
    });
  }
});

test('invalid UTF-8 in an assembled message fails with 1007 as soon as it arrives', () => {
  const rand = prng(8);
  const payload = text(rand, 200_000);
  payload[100_000] = 0xff;
  const stream = encodeFrame(1, payload, true, false, key(rand));
  const got: number[] = [];
  let at = -1;
  const d = new FrameDecoder({
    onMessage: () => assert.fail('no message expected'),
    onPing: () => {}, onPong: () => {}, onClose: () => {},
    onError: (e) => got.push(e.closeCode),
  }, { expectMasked: true, maxMessageSize: 16 * 1024 * 1024 });
  for (let p = 0; p < stream.length && got.length === 0; p += 16384) {
    d.push(Buffer.from(stream.subarray(p, p + 16384)));
    if (got.length > 0) at = p;
  }
  assert.deepEqual(got, [1007]);
  assert.ok(at <= 100_010 && at >= 100_010 - 16384, `failed at chunk ${at}, not at the bad byte`);
});
