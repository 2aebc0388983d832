/**
 * The permessage-deflate codec and what the connection builds on it:
 * round trips, the zlib limiter's bound, send order across compressed and
 * plain messages, the close frame after queued compressions, closing with
 * jobs in flight, and a broadcast compressed once (PreparedMessage).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import WS from 'ws';
import { PerMessageDeflate } from '../../src/websocket/deflate-codec.js';
import { PreparedMessage } from '../../src/websocket/prepared-message.js';
import { pooledStreamCount } from '../../src/websocket/zlib-pool.js';
import { ZlibLimiter, zlibLimiter } from '../../src/websocket/zlib-limiter.js';
import { connect } from '../../src/websocket/client.js';
import type { DeflateParams } from '../../src/protocol/deflate-params.js';
import { deflateOf, type WebSocket } from '../../src/websocket/websocket.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { binaryOfSize, prng, startEchoServer, textOfSize } from './helpers.js';
import { buildFrame } from '../protocol/helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function params(p: Partial<DeflateParams> = {}): DeflateParams {
  return { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15, ...p };
}

const compress = (codec: PerMessageDeflate, data: Buffer) => new Promise<Buffer>((resolve, reject) =>
  codec.compress(data, (err, out) => (err ? reject(err) : resolve(out))));
const decompress = (codec: PerMessageDeflate, data: Buffer) => new Promise<Buffer>((resolve, reject) =>
  codec.decompress(data, (err, out) => (err ? reject(err) : resolve(out))));

/** A limiter that remembers the most jobs it ever ran at once. */
class CountingLimiter extends ZlibLimiter {
  peak = 0;
  override drain(): void {
    super.drain();
    this.peak = Math.max(this.peak, this.running);
  }
}

describe('codec', () => {
  test('client → server and server → client round trips for several parameter sets', async () => {
    const random = prng(1);
    const messages = [Buffer.from('x'), Buffer.from(textOfSize(100, random)), binaryOfSize(40 * KiB, random), Buffer.from(textOfSize(300 * KiB, random))];
    for (const p of [params(), params({ serverNoContextTakeover: true, clientNoContextTakeover: true }), params({ serverMaxWindowBits: 8, clientMaxWindowBits: 9 })]) {
      const server = new PerMessageDeflate(p, { isServer: true, maxPayload: MiB });
      const client = new PerMessageDeflate(p, { isServer: false, maxPayload: MiB });
      for (const m of [...messages, ...messages]) {
        const wire = await compress(client, m);
        assert.ok(!wire.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff])), 'the trailer is removed');
        assert.ok((await decompress(server, wire)).equals(m));
        assert.ok((await decompress(client, await compress(server, m))).equals(m));
      }
      server.close();
      client.close();
    }
  });

  test('context takeover: a repeated message shrinks; without it, it does not', async () => {
    const text = Buffer.from('a sentence that the second message can refer back to, if context is kept. ');
    const keep = new PerMessageDeflate(params(), { isServer: true, maxPayload: MiB });
    const reset = new PerMessageDeflate(params({ serverNoContextTakeover: true }), { isServer: true, maxPayload: MiB });
    const k1 = await compress(keep, text);
    const k2 = await compress(keep, text);
    const r1 = await compress(reset, text);
    const r2 = await compress(reset, text);
    assert.ok(k2.length < k1.length / 3, `${k2.length} vs ${k1.length}`);
    assert.ok(r1.equals(r2));
    assert.equal(reset.sharedKey !== null, true);
    assert.equal(keep.sharedKey, null);
    keep.close();
    reset.close();
  });

  test('without context takeover the zlib streams go back to a shared pool', async () => {
    // Window sizes no other test here uses: the pool holds no stream of these settings yet, whatever ran before.
    const before = pooledStreamCount();
    const codecs = Array.from({ length: 3 }, () => new PerMessageDeflate(params({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 13, clientMaxWindowBits: 11 }), { isServer: true, maxPayload: MiB }));
    // One after the other: each borrows the deflater and the inflater the previous one gave back.
    for (const c of codecs) await decompress(c, await compress(c, Buffer.from('pooled '.repeat(100))));
    assert.equal(pooledStreamCount(), before + 2, 'one deflater and one inflater, shared by all three');
    for (const c of codecs) c.close();
  });

  test('the cap stops inflation at the first chunk past maxPayload', async () => {
    const codec = new PerMessageDeflate(params(), { isServer: true, maxPayload: 100 * KiB });
    const bomb = zlib.deflateRawSync(Buffer.alloc(50 * MiB), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const err = await decompress(codec, bomb).then(() => null, (e: ProtocolError) => e);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.closeCode, 1009);
    assert.ok(codec.inflatedBytes <= 100 * KiB + 64 * KiB, `stopped after ${codec.inflatedBytes} bytes`);
    codec.close();
  });

  test('corrupt input → 1007', async () => {
    const codec = new PerMessageDeflate(params(), { isServer: true, maxPayload: MiB });
    const err = await decompress(codec, Buffer.from([0xff, 0xfe, 0xfd])).then(() => null, (e: ProtocolError) => e);
    assert.equal(err?.closeCode, 1007);
    codec.close();
  });

  test('the limiter bounds how many zlib jobs run at once, across codecs', async () => {
    const limiter = new CountingLimiter(2);
    const codecs = Array.from({ length: 12 }, () => new PerMessageDeflate(params(), { isServer: true, maxPayload: MiB, limiter }));
    const data = binaryOfSize(200 * KiB, prng(2));
    const outs = await Promise.all(codecs.map((c) => compress(c, data)));
    assert.equal(limiter.peak, 2);
    assert.equal(limiter.running, 0);
    assert.equal(limiter.waiting, 0);
    for (const o of outs) assert.ok(zlib.inflateRawSync(Buffer.concat([o, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).equals(data));
    for (const c of codecs) c.close();
  });

  test('closing a codec with jobs queued or running calls back with errors and frees the limiter', async () => {
    const limiter = new CountingLimiter(1);
    const busy = new PerMessageDeflate(params(), { isServer: true, maxPayload: MiB, limiter });
    const queued = new PerMessageDeflate(params(), { isServer: true, maxPayload: MiB, limiter });
    const a = compress(busy, binaryOfSize(MiB, prng(3)));
    const b = compress(queued, Buffer.from('waiting'));
    const c = decompress(queued, Buffer.from([0x4b, 0x04, 0x00])); // 'a'
    assert.equal(limiter.waiting, 2);
    queued.close();
    busy.close();
    // The slots are free at once: nobody waits for zlib to notice.
    assert.equal(limiter.running, 0);
    assert.equal(limiter.waiting, 0);
    await assert.rejects(a);
    await assert.rejects(b);
    await assert.rejects(c);
    assert.equal(limiter.running, 0);
    assert.equal(limiter.waiting, 0);
  });
});

describe('sending through the codec', () => {
  test('compressed and plain messages keep their order, callbacks too, and a close comes last', async () => {
    const server = await startEchoServer({ perMessageDeflate: { threshold: 1000 } });
    const c = new WS(`ws://127.0.0.1:${server.port}`, { perMessageDeflate: true });
    try {
      await new Promise<void>((resolve, reject) => { c.once('open', () => resolve()); c.once('error', reject); });
      const ws = server.connections[0]!;
      const random = prng(4);
      const messages = Array.from({ length: 200 }, (_, i) => i % 2 === 0 ? `small ${i}` : textOfSize(1000 + (i * 997) % 60000, random));
      const got: string[] = [];
      const callbacks: number[] = [];
      const closed = new Promise<number>((resolve) => c.on('close', (code: number) => resolve(code)));
      c.on('message', (data: Buffer) => got.push(data.toString()));
      messages.forEach((m, i) => ws.send(m, () => callbacks.push(i)));
      ws.ping(); // control frames may go ahead; they must not break anything
      ws.close(1000, 'done');
      assert.equal(await closed, 1000);
      assert.equal(got.length, messages.length);
      got.forEach((g, i) => assert.equal(g, messages[i], `message ${i}`));
      assert.deepEqual(callbacks, messages.map((_, i) => i));
    } finally {
      c.terminate();
      await server.close();
    }
  });

  test('our client compresses (masked, RSV1) and keeps order against our server', async () => {
    const server = await startEchoServer({ perMessageDeflate: { threshold: 0 } });
    const c = connect(`ws://127.0.0.1:${server.port}`, { perMessageDeflate: { threshold: 100 } });
    try {
      await new Promise<void>((resolve, reject) => { c.once('open', () => resolve()); c.once('error', reject); });
      const messages = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? 'tiny' : `compressible ${i} `.repeat(i + 10)));
      const got: string[] = [];
      await new Promise<void>((resolve) => {
        c.on('message', (d: Buffer) => { got.push(d.toString()); if (got.length === messages.length) resolve(); });
        for (const m of messages) c.send(m);
      });
      assert.deepEqual(got, messages);
    } finally {
      c.terminate();
      await server.close();
    }
  });
});

describe('broadcast: PreparedMessage', () => {
  test('its frames are byte for byte those of the reference builder, in every length form', async () => {
    const codec = new PerMessageDeflate(params({ serverNoContextTakeover: true }), { isServer: true, maxPayload: MiB });
    try {
      for (const n of [0, 1, 125, 126, 65535, 65536]) {
        for (const isBinary of [false, true]) {
          const data = isBinary ? binaryOfSize(n, prng(n)) : Buffer.from(textOfSize(n, prng(n)));
          const m = new PreparedMessage(data, isBinary);
          const opcode = isBinary ? 2 : 1;
          assert.ok(m.frame.equals(buildFrame({ opcode, payload: data, mask: null })), `plain, ${n} bytes, binary ${isBinary}`);
          const frame = await new Promise<Buffer>((resolve, reject) => m.compressedFrame(codec, (err, f) => (err ? reject(err) : resolve(f))));
          const payload = frame.subarray(frame[1] === 126 ? 4 : frame[1] === 127 ? 10 : 2); // server frames: no mask
          assert.ok(frame.equals(buildFrame({ opcode, payload, rsv: 4, mask: null })), `compressed, ${n} bytes, binary ${isBinary}`);
          const inflated = zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
          assert.ok(inflated.equals(data), `compressed payload inflates back, ${n} bytes`);
        }
      }
    } finally {
      codec.close();
    }
  });

  test('compressed once for every receiver with the same no-context-takeover settings', async () => {
    const server = await startEchoServer({ perMessageDeflate: { threshold: 100, serverNoContextTakeover: true } });
    const clients: WS[] = [];
    const deflateRaw = zlib.deflateRaw;
    let compressions = 0;
    (zlib as { deflateRaw: unknown }).deflateRaw = (...args: unknown[]) => {
      compressions++;
      return (deflateRaw as (...a: unknown[]) => unknown)(...args);
    };
    try {
      // 20 receivers: 12 with the server's default window, 4 asking for server_max_window_bits=10, 4 without deflate.
      for (let i = 0; i < 20; i++) {
        const opts = i < 12 ? { perMessageDeflate: true } : i < 16 ? { perMessageDeflate: { serverMaxWindowBits: 10 } } : { perMessageDeflate: false };
        const c = new WS(`ws://127.0.0.1:${server.port}`, opts);
        await new Promise<void>((resolve, reject) => { c.once('open', () => resolve()); c.once('error', reject); });
        clients.push(c);
      }
      const received = clients.map(() => [] as string[]);
      const all = Promise.all(clients.map((c, i) => new Promise<void>((resolve) => {
        c.on('message', (d: Buffer) => { received[i]!.push(d.toString()); if (received[i]!.length === 3) resolve(); });
      })));
      const big = new PreparedMessage(JSON.stringify({ id: 1, event: 'count', data: 'x'.repeat(5000) }));
      const small = new PreparedMessage('{"id":2}');
      const big2 = new PreparedMessage(textOfSize(20 * KiB, prng(9)));
      for (const m of [big, small, big2]) for (const ws of server.connections as WebSocket[]) ws.sendPrepared(m);
      await all;
      for (const r of received) assert.deepEqual(r, [big.data.toString(), '{"id":2}', big2.data.toString()]);
      // Two big messages × two settings (window 15 and window 10): 4 compressions for 16 deflate receivers.
      assert.equal(compressions, 4);
      const sample = deflateOf(server.connections[0]!)!;
      assert.ok(big.compressedFrameIfReady(sample) !== null, 'the frame is cached on the message');
      assert.equal(big.frame, big.frame, 'the plain frame is built once');
    } finally {
      (zlib as { deflateRaw: unknown }).deflateRaw = deflateRaw;
      for (const c of clients) c.terminate();
      await server.close();
    }
  });

  test('receivers with context takeover compress it themselves, in order with their other messages', async () => {
    const server = await startEchoServer({ perMessageDeflate: { threshold: 10 } });
    const c = new WS(`ws://127.0.0.1:${server.port}`, { perMessageDeflate: true });
    try {
      await new Promise<void>((resolve, reject) => { c.once('open', () => resolve()); c.once('error', reject); });
      const ws = server.connections[0]!;
      assert.equal(deflateOf(ws)!.sharedKey, null);
      const got: string[] = [];
      const done = new Promise<void>((resolve) => c.on('message', (d: Buffer) => { got.push(d.toString()); if (got.length === 3) resolve(); }));
      ws.send('first message, compressed by the connection');
      ws.sendPrepared(new PreparedMessage('prepared message, compressed by the connection too'));
      ws.send('x');
      await done;
      assert.deepEqual(got, ['first message, compressed by the connection', 'prepared message, compressed by the connection too', 'x']);
    } finally {
      c.terminate();
      await server.close();
    }
  });
});

test('codecs without a limiter of their own share the process-wide one, and leave it idle', async () => {
  const codecs = Array.from({ length: zlibLimiter.concurrency + 5 }, () => new PerMessageDeflate(params(), { isServer: true, maxPayload: MiB }));
  const data = binaryOfSize(100 * KiB, prng(5));
  const outs = codecs.map((c) => compress(c, data));
  assert.equal(zlibLimiter.running, zlibLimiter.concurrency);
  assert.equal(zlibLimiter.waiting, 5);
  await Promise.all(outs);
  assert.equal(zlibLimiter.running, 0);
  assert.equal(zlibLimiter.waiting, 0);
  for (const c of codecs) c.close();
});
