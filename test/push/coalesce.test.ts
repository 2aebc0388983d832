// Write coalescing (docs/PROTOCOL.md §3.9): the bytes every subscriber gets
// are the same, in the same order, as with one write per message; only the
// number of writes changes. Real sockets on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { encodeTextFrame, nextMaskKey } from '../../src/protocol/frame-encoder.js';
import { startServer, until, type TestServer } from './helpers.js';


/** Bytes one client received, and a count of `end` events seen so far. */
interface Capture { bytes: Buffer[]; ends: number; close(): void; pause(): void }

/** A raw WebSocket client: every byte after the 101 kept as it came; `end` messages counted. */
function rawWs(port: number, path: string, events: string[] = []): Promise<Capture> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const capture: Capture = { bytes: [], ends: 0, close: () => socket.destroy(), pause: () => socket.pause() };
    let head: Buffer | null = Buffer.alloc(0);
    const decoder = new FrameDecoder({
      onMessage: (data) => { if (JSON.parse(data.toString()).event === 'end') capture.ends++; },
      onPing: () => {}, onPong: () => {}, onClose: () => {}, onError: (err) => reject(err),
    }, { expectMasked: false, maxMessageSize: 1 << 24 });
    socket.on('data', (chunk: Buffer) => {
      if (head !== null) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        assert.match(head.subarray(0, 12).toString('latin1'), /^HTTP\/1.1 101/);
        chunk = head.subarray(end + 4);
        head = null;
        for (const e of events) socket.write(encodeTextFrame(e, true, false, nextMaskKey()));
        resolve(capture);
        if (chunk.length === 0) return;
      }
      capture.bytes.push(chunk);
      decoder.push(chunk);
    });
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

/** An HTTP stream (SSE or iframe): the body, de-chunked, as it came; `end` events counted. */
function rawStream(port: number, path: string, endMark: string): Promise<Capture> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      const capture: Capture = { bytes: [], ends: 0, close: () => req.destroy(), pause: () => req.socket?.pause() };
      let text = '';
      res.on('data', (chunk: Buffer) => {
        capture.bytes.push(chunk);
          text += chunk.toString('latin1');
        capture.ends = text.split(endMark).length - 1;
      });
      resolve(capture);
    });
    req.on('error', reject);
  });
}

/**
 * Counts what the server hands the kernel: one `_write` or `_writev` of a
 * server-side socket is one flush (a corked chunk header, data and CRLF are one
 * `_writev`). Counted where the bytes leave, not where a client reads them: a
 * client's reads join whatever the kernel holds, so they show the reader's pace.
 */
function countFlushes(t: TestServer): { flushes: number } {
  const count = { flushes: 0 };
  t.server.http.on('connection', (socket: net.Socket) => {
    const s = socket as net.Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    const write = s._write;
    const writev = s._writev;
    s._write = function (...a: unknown[]) { count.flushes++; return write.apply(this, a); };
    s._writev = function (...a: unknown[]) { count.flushes++; return writev.apply(this, a); };
  });
  return count;
}

/** The same clients on both servers: plain and multiplexed, on every streaming technique. */
async function clients(t: TestServer): Promise<Array<{ name: string; capture: Capture; ends: number }>> {
  const { port } = t;
  const base = t.server.push.stats().subscriptions;
  const list = [
    { name: 'ws a', open: rawWs(port, '/push/ws?channel=a'), ends: 1 },
    { name: 'ws a,b,c', open: rawWs(port, '/push/ws?channels=a,b,c'), ends: 3 },
    { name: 'ws in-band b,c', open: rawWs(port, '/push/ws', ['b', 'c'].map((channel) => JSON.stringify({ event: 'push:subscribe', data: { channel } }))), ends: 2 },
    { name: 'sse b', open: rawStream(port, '/push/sse?channel=b', 'event: end'), ends: 1 },
    { name: 'sse a,c', open: rawStream(port, '/push/sse?channels=a,c', 'event: end'), ends: 2 },
    { name: 'iframe c', open: rawStream(port, '/push/iframe?channel=c&callback=cb', '"event":"end"'), ends: 1 },
    { name: 'iframe a,b', open: rawStream(port, '/push/iframe?channels=a,b&callback=cb', '"event":"end"'), ends: 2 },
  ];
  const out = [];
  for (const c of list) out.push({ name: c.name, capture: await c.open, ends: c.ends });
  // 1 + 3 + 2 + 1 + 2 + 1 + 2 channel subscriptions.
  await until(() => t.server.push.stats().subscriptions === base + 12, 3000, 'the subscriptions');
  return out;
}

/** Publishes in bursts over several turns, channels interleaved, sizes varied, then `end` on each channel. */
async function publishScript(t: TestServer): Promise<void> {
  const { push } = t.server;
  const channels = ['a', 'b', 'c'];
  let n = 0;
  for (let turn = 0; turn < 12; turn++) {
    const burst = turn % 4 === 3 ? 1 : 1 + turn * 3;
    for (let i = 0; i < burst; i++) {
      n++;
      // Small, medium and one large enough that a burst's parts are not joined.
      const size = n % 17 === 0 ? 20_000 : n % 5 === 0 ? 300 : 10;
      push.publish(channels[(n * 7 + turn) % 3]!, n % 2 ? 'tick' : 'tock', { n, pad: 'x'.repeat(size) });
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const channel of channels) push.publish(channel, 'end', null);
}

for (const mode of ['at the end of the turn', 'after writeDelay'] as const) test(`coalesced writes (${mode}): every subscriber gets the same bytes in the same order as with one write per message`, async (tc) => {
  // Fresh servers: the same ids on both sides.
  const [server, off] = await Promise.all([startServer(mode === 'after writeDelay' ? { writeDelay: 5 } : {}), startServer({ coalesceWrites: false })]);
  tc.after(() => Promise.all([server.stop(), off.stop()]));
  const onCount = countFlushes(server);
  const offCount = countFlushes(off);
  const onClients = await clients(server);
  const offClients = await clients(off);
  const before = [onCount.flushes, offCount.flushes];
  await Promise.all([publishScript(server), publishScript(off)]);
  for (const c of [...onClients, ...offClients]) await until(() => c.capture.ends >= c.ends, 5000, `${c.name}: the end messages`);
  for (let i = 0; i < onClients.length; i++) {
    const a = onClients[i]!;
    const b = offClients[i]!;
    const bytesOn = Buffer.concat(a.capture.bytes);
    assert.ok(bytesOn.length > 10_000, `${a.name}: ${bytesOn.length} bytes`);
    assert.ok(bytesOn.equals(Buffer.concat(b.capture.bytes)), `${a.name}: the bytes differ`);
    a.capture.close();
    b.capture.close();
  }
  // 150 messages over 12 turns to 7 subscribers of 1 to 3 channels. Without
  // coalescing a WebSocket flushes once per message (an HTTP response already
  // joins the writes of one tick: Node corks it until the next); with it, every
  // subscriber flushes about once per turn.
  const flushesOn = onCount.flushes - before[0]!;
  const flushesOff = offCount.flushes - before[1]!;
  tc.diagnostic(`flushes to the kernel: ${flushesOn} coalesced, ${flushesOff} one per message`);
  assert.ok(flushesOff > 3 * flushesOn, `flushes with coalescing ${flushesOn}, without ${flushesOff}`);
});

test('coalesced writes: a subscriber that never reads is cut off by its queue bound while the others get every message', async (tc) => {
  const t = await startServer({ maxQueuedBytes: 256 * 1024 });
  try {
    const { push } = t.server;
    const ch = 'burst-slow';
    const base = push.stats().subscriptions;
    const reader = await rawWs(t.port, `/push/ws?channel=${ch}`);
    const sse = await rawStream(t.port, `/push/sse?channel=${ch}`, 'event: end');
    // The sleeper: a WebSocket that never reads past its handshake.
    const sleeper = await rawWs(t.port, `/push/ws?channel=${ch}`);
    const sleeperSse = await rawStream(t.port, `/push/sse?channel=${ch}`, 'event: end');
    await until(() => push.stats().subscriptions === base + 4, 3000, 'the subscriptions');
    // They stop reading: the kernel buffers fill, then the server's queues.
    sleeper.pause();
    sleeperSse.pause();
    const payload = 'z'.repeat(8 * 1024);
    let published = 0;
    // Bursts of 16 messages per turn until both sleepers are gone (bounded).
    while ((push.stats().websockets > 1 || push.stats().streams > 1) && published < 16 * 256) {
      for (let i = 0; i < 16; i++) push.publish(ch, 'blob', payload);
      published += 16;
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
    tc.diagnostic(`sleepers cut off after ${published} messages of 8 KiB`);
    assert.equal(push.stats().websockets, 1);
    assert.equal(push.stats().streams, 1);
    push.publish(ch, 'end', null);
    await until(() => reader.ends === 1 && sse.ends === 1, 10_000, 'the readers to get everything');
    // The readers got every message, in order.
    const ids = messageIds(Buffer.concat(reader.bytes));
    assert.equal(ids.length, published + 1);
    ids.forEach((id, i) => assert.equal(id, i + 1));
    const sseIds = [...Buffer.concat(sse.bytes).toString().matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(sseIds, ids);
    reader.close();
    sse.close();
    sleeper.close();
    sleeperSse.close();
  } finally {
    await t.stop();
  }
});

function messageIds(bytes: Buffer): number[] {
  const ids: number[] = [];
  const decoder = new FrameDecoder({
    onMessage: (data) => ids.push(JSON.parse(data.toString()).id),
    onPing: () => {}, onPong: () => {}, onClose: () => {}, onError: (err) => { throw err; },
  }, { expectMasked: false, maxMessageSize: 1 << 24 });
  decoder.push(bytes);
  return ids;
}
