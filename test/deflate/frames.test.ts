/**
 * Compressed frames on the wire, made by hand and sent over a raw TCP socket
 * to our server: RSV1 rules, fragmented compressed messages, context
 * takeover as negotiated, the inflation cap (zip bomb → 1009 with memory
 * bounded), bad compressed data.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { MessageInflater, OP, RawClient, deflateMessage, frame, inflateMessage, startEchoServer, type EchoServer } from './helpers.js';
import { deflateOf } from '../../src/websocket/websocket.js';

const MiB = 1024 * 1024;
let server: EchoServer; // deflate on, threshold 0 so every echo is compressed
let plain: EchoServer; // deflate off
let small: EchoServer; // deflate on, maxPayload 1 MiB
let fresh: EchoServer; // server_no_context_takeover by policy

before(async () => {
  server = await startEchoServer({ perMessageDeflate: { threshold: 0 } });
  plain = await startEchoServer();
  small = await startEchoServer({ perMessageDeflate: true, maxPayload: MiB });
  fresh = await startEchoServer({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true } });
});
after(async () => {
  RawClient.destroyAll();
  await Promise.all([server.close(), plain.close(), small.close(), fresh.close()]);
});

const OFFER = 'permessage-deflate; client_max_window_bits';

async function open(s: EchoServer, offer: string | null = OFFER): Promise<RawClient> {
  const c = await RawClient.connect(s.port, offer ?? undefined);
  assert.equal(c.status, 101);
  return c;
}

describe('compressed messages from a raw client', () => {
  test('one compressed text frame is inflated and echoed compressed, RSV1 set', async () => {
    const c = await open(server);
    c.send(frame({ opcode: OP.text, payload: deflateMessage('Hello, deflate!'), rsv1: true }));
    const f = await c.nextFrame();
    assert.equal(f.opcode, OP.text);
    assert.equal(f.rsv1, true);
    assert.equal(inflateMessage(f.payload).toString(), 'Hello, deflate!');
    c.destroy();
  });

  test('a compressed message in fragments: RSV1 on the first frame only', async () => {
    const c = await open(server);
    const text = 'fragmented '.repeat(500);
    const payload = deflateMessage(text);
    const parts = [payload.subarray(0, 3), payload.subarray(3, 10), payload.subarray(10, 11), payload.subarray(11)];
    c.send(...parts.map((p, i) => frame({ opcode: i === 0 ? OP.text : OP.cont, payload: p, fin: i === parts.length - 1, rsv1: i === 0 })));
    const f = await c.nextFrame();
    assert.equal(inflateMessage(f.payload).toString(), text);
    c.destroy();
  });

  test('a fragmented compressed message with a ping between fragments; an empty last fragment', async () => {
    const c = await open(server);
    const data = Buffer.alloc(20000, 'abcdefgh');
    const payload = deflateMessage(data);
    c.send(
      frame({ opcode: OP.binary, payload: payload.subarray(0, 5), fin: false, rsv1: true }),
      frame({ opcode: OP.ping, payload: 'p' }),
      frame({ opcode: OP.cont, payload: payload.subarray(5), fin: false }),
      frame({ opcode: OP.cont, payload: Buffer.alloc(0), fin: true }),
    );
    const pong = await c.nextFrame();
    assert.equal(pong.opcode, OP.pong);
    const f = await c.nextFrame();
    assert.equal(f.opcode, OP.binary);
    assert.ok(inflateMessage(f.payload).equals(data));
    c.destroy();
  });

  test('compressed and uncompressed messages interleaved come back in order', async () => {
    const c = await open(server);
    const texts = Array.from({ length: 40 }, (_, i) => `message ${i} `.repeat(1 + (i * 37) % 300));
    c.send(...texts.map((t, i) => i % 3 === 0 ? frame({ opcode: OP.text, payload: t }) : frame({ opcode: OP.text, payload: deflateMessage(t), rsv1: true })));
    // The server keeps its compression context: inflate its replies with one stream.
    const inflate = new MessageInflater();
    for (const t of texts) {
      const f = await c.nextFrame();
      assert.equal(f.rsv1, true);
      assert.equal((await inflate.message(f.payload)).toString(), t);
    }
    inflate.close();
    c.destroy();
  });

  test('client context takeover: the second message refers back to the first', async () => {
    const c = await open(server);
    const deflate = zlib.createDeflateRaw();
    const compress = (s: string) => new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const onData = (b: Buffer) => chunks.push(b);
      deflate.on('data', onData);
      deflate.write(s);
      deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => { deflate.off('data', onData); const b = Buffer.concat(chunks); resolve(b.subarray(0, b.length - 4)); });
    });
    const text = 'the same sentence, twice over, with context takeover. '.repeat(4);
    const first = await compress(text);
    const second = await compress(text);
    assert.ok(second.length < first.length / 2, 'the second is a back-reference');
    c.send(frame({ opcode: OP.text, payload: first, rsv1: true }), frame({ opcode: OP.text, payload: second, rsv1: true }));
    const inflate = new MessageInflater(); // server context is kept too: one stream
    for (let i = 0; i < 2; i++) {
      const f = await c.nextFrame();
      assert.equal((await inflate.message(f.payload)).toString(), text);
      if (i === 1) assert.ok(f.payload.length < 20, `server's second message is a back-reference (${f.payload.length} bytes)`);
    }
    deflate.close();
    inflate.close();
    c.destroy();
  });

  test('server_no_context_takeover: each reply inflates on its own, identical bytes for identical messages', async () => {
    const c = await open(fresh);
    const text = 'no context between messages '.repeat(20);
    c.send(frame({ opcode: OP.text, payload: text }), frame({ opcode: OP.text, payload: text }));
    const a = await c.nextFrame();
    const b = await c.nextFrame();
    assert.ok(a.payload.equals(b.payload));
    assert.equal(inflateMessage(b.payload).toString(), text);
    c.destroy();
  });

  test('client_no_context_takeover: answered, and independent client messages are read', async () => {
    const c = await open(fresh, 'permessage-deflate; client_no_context_takeover');
    assert.equal(c.headers['sec-websocket-extensions'], 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    for (let i = 0; i < 3; i++) c.send(frame({ opcode: OP.text, payload: deflateMessage(`independent ${i}`), rsv1: true }));
    for (let i = 0; i < 3; i++) assert.equal(inflateMessage((await c.nextFrame()).payload).toString(), `independent ${i}`);
    c.destroy();
  });

  test('a message ending with a final block (BFINAL) is accepted; the next one too', async () => {
    const c = await open(server);
    const finished = (s: string) => zlib.deflateRawSync(Buffer.from(s)); // Z_FINISH: a final block, no 00 00 ff ff
    c.send(frame({ opcode: OP.text, payload: finished('first final'), rsv1: true }), frame({ opcode: OP.text, payload: finished('second final'), rsv1: true }));
    const inflate = new MessageInflater();
    assert.equal((await inflate.message((await c.nextFrame()).payload)).toString(), 'first final');
    assert.equal((await inflate.message((await c.nextFrame()).payload)).toString(), 'second final');
    inflate.close();
    c.destroy();
  });

  test('an empty compressed message (a single 0x00 byte, and an empty payload) is the empty message', async () => {
    const c = await open(server);
    c.send(frame({ opcode: OP.text, payload: Buffer.from([0]), rsv1: true }), frame({ opcode: OP.binary, payload: Buffer.alloc(0), rsv1: true }));
    const a = await c.nextFrame();
    const b = await c.nextFrame();
    assert.equal(a.opcode, OP.text);
    assert.equal(inflateMessage(a.payload).length, 0);
    assert.equal(b.opcode, OP.binary);
    assert.equal(inflateMessage(b.payload).length, 0);
    c.destroy();
  });
});

describe('RSV1 misuse → 1002', () => {
  test('RSV1 on a continuation frame', async () => {
    const c = await open(server);
    const p = deflateMessage('abcdefgh'.repeat(10));
    c.send(frame({ opcode: OP.text, payload: p.subarray(0, 4), fin: false, rsv1: true }), frame({ opcode: OP.cont, payload: p.subarray(4), rsv1: true }));
    await c.expectClose(1002);
  });
  test('RSV1 on a ping', async () => {
    const c = await open(server);
    c.send(frame({ opcode: OP.ping, payload: 'x', rsv1: true }));
    await c.expectClose(1002);
  });
  test('RSV1 on a close frame', async () => {
    const c = await open(server);
    c.send(frame({ opcode: OP.close, payload: Buffer.from([0x03, 0xe8]), rsv1: true }));
    await c.expectClose(1002);
  });
  test('RSV1 when permessage-deflate was not offered', async () => {
    const c = await open(server, null);
    assert.equal(c.headers['sec-websocket-extensions'], undefined);
    c.send(frame({ opcode: OP.text, payload: deflateMessage('hello'), rsv1: true }));
    await c.expectClose(1002);
  });
  test('RSV1 when the server has deflate off (offer ignored)', async () => {
    const c = await open(plain);
    assert.equal(c.headers['sec-websocket-extensions'], undefined);
    c.send(frame({ opcode: OP.text, payload: deflateMessage('hello'), rsv1: true }));
    await c.expectClose(1002);
  });
});

describe('bad compressed data', () => {
  test('invalid UTF-8 once inflated → 1007', async () => {
    const c = await open(server);
    c.send(frame({ opcode: OP.text, payload: deflateMessage(Buffer.from([0x68, 0x69, 0xc0, 0xaf])), rsv1: true }));
    await c.expectClose(1007);
  });
  test('the same bytes as a binary message are fine', async () => {
    const c = await open(server);
    c.send(frame({ opcode: OP.binary, payload: deflateMessage(Buffer.from([0x68, 0x69, 0xc0, 0xaf])), rsv1: true }));
    assert.deepEqual([...inflateMessage((await c.nextFrame()).payload)], [0x68, 0x69, 0xc0, 0xaf]);
    c.destroy();
  });
  test('data that is not deflate → 1007', async () => {
    const c = await open(server);
    c.send(frame({ opcode: OP.text, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x12]), rsv1: true }));
    await c.expectClose(1007);
  });
  test('a compressed frame over the limit before inflation → 1009 from the header', async () => {
    const c = await open(small);
    c.send(frame({ opcode: OP.binary, payload: Buffer.alloc(MiB + 1), rsv1: true }).subarray(0, 100));
    await c.expectClose(1009);
  });
});

describe('inflation is capped at maxPayload (zip bomb)', () => {
  const bomb = deflateMessage(Buffer.alloc(16 * MiB)); // 16 MiB of zeros in ~16 KiB

  test('a message inflating to exactly the limit is accepted', async () => {
    const c = await open(small);
    c.send(frame({ opcode: OP.binary, payload: deflateMessage(Buffer.alloc(MiB, 1)), rsv1: true }));
    const f = await c.nextFrame(5000);
    assert.equal(inflateMessage(f.payload).length, MiB);
    c.destroy();
  });

  test('16 MiB inflated under a 1 MiB limit → 1009; zlib stopped early, memory bounded', async (t) => {
    assert.ok(bomb.length < 20 * 1024, `bomb is ${bomb.length} bytes`);
    const N = 6; // six bombs at once: 96 MiB if inflation were not capped
    global.gc?.();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakBuffers = before.arrayBuffers;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    }, 2);
    try {
      const clients = await Promise.all(Array.from({ length: N }, () => open(small)));
      const first = small.connections.length - N;
      for (const c of clients) c.send(frame({ opcode: OP.binary, payload: bomb, rsv1: true }));
      await Promise.all(clients.map((c) => c.expectClose(1009, 5000)));
      for (const ws of small.connections.slice(first)) {
        // The codec stops at the first output chunk past the limit (chunks are 16 KiB).
        const inflated = deflateOf(ws)!.inflatedBytes;
        assert.ok(inflated <= MiB + 64 * 1024, `inflated ${inflated} bytes before stopping`);
        assert.ok(inflated > MiB);
      }
    } finally {
      clearInterval(sampler);
    }
    const rssGrowth = (peakRss - before.rss) / MiB;
    const bufferGrowth = (peakBuffers - before.arrayBuffers) / MiB;
    assert.ok(bufferGrowth < 32, `Buffer memory grew by ${bufferGrowth.toFixed(1)} MiB`);
    assert.ok(rssGrowth < 48, `RSS grew by ${rssGrowth.toFixed(1)} MiB`);
    t.diagnostic(`peak growth during ${N} bombs: RSS ${rssGrowth.toFixed(1)} MiB, Buffers ${bufferGrowth.toFixed(1)} MiB`);
  });

  test('the same bomb under the default 16 MiB limit inflates whole (the cap is the only difference)', async () => {
    const c = await open(server);
    c.send(frame({ opcode: OP.binary, payload: bomb, rsv1: true }));
    const f = await c.nextFrame(10000);
    assert.equal(f.opcode, OP.binary);
    assert.equal(inflateMessage(f.payload).length, 16 * MiB);
    c.destroy();
  });
});
