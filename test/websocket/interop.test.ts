/**
 * Interoperability with the `ws` package: ws as a client of our /echo
 * (messages of 0 B to 16 MiB, whole and fragmented, with pings), our client
 * against a ws WebSocketServer, and our client against our own server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsClient, WebSocketServer as WsServer, type RawData } from 'ws';
import { connect } from '../../src/websocket/client.js';
import { WebSocket } from '../../src/websocket/websocket.js';
import { startServer, type TestServer } from './raw-client.js';

const MiB = 1024 * 1024;
const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, MiB, 16 * MiB];

function textOf(n: number): string {
  // Multi-byte characters included; cut to exactly n UTF-8 bytes on a character boundary.
  const unit = 'pushwire ✓ κόσμε 😀 ';
  const s = unit.repeat(Math.ceil(n / Buffer.byteLength(unit)) + 1);
  const b = Buffer.from(s).subarray(0, n);
  let end = n;
  while (end > 0 && (b[end - 1]! & 0xc0) === 0x80) end--;
  if (end > 0 && b[end - 1]! >= 0xc0) end--;
  const text = b.subarray(0, end).toString();
  return text + 'x'.repeat(n - Buffer.byteLength(text));
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** The next message on a ws client, as (Buffer, isBinary). */
function nextWsMessage(ws: WsClient): Promise<[Buffer, boolean]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message within 15 s')), 15000);
    ws.once('message', (data, isBinary) => { clearTimeout(t); resolve([toBuffer(data), isBinary]); });
  });
}

function nextMessage(ws: WebSocket): Promise<[Buffer, boolean]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message within 15 s')), 15000);
    ws.once('message', (data: Buffer, isBinary: boolean) => { clearTimeout(t); resolve([data, isBinary]); });
  });
}

/** Our client sends text and binary of every size in SIZES to an echo; each must come back the same. */
async function echoEverySize(ours: WebSocket): Promise<void> {
  for (const n of SIZES) {
    const text = textOf(n);
    ours.send(text);
    const [t, tBin] = await nextMessage(ours);
    assert.equal(tBin, false);
    assert.ok(t.equals(Buffer.from(text)), `text ${n}`);
    const payload = randomBytes(n);
    ours.send(payload);
    const [b, bBin] = await nextMessage(ours);
    assert.equal(bBin, true);
    assert.ok(b.equals(payload), `binary ${n}`);
  }
}

describe('ws client ↔ our /echo', () => {
  let server: TestServer;
  let ws: WsClient;
  before(async () => {
    server = await startServer();
    ws = new WsClient(`ws://127.0.0.1:${server.port}/echo`, { perMessageDeflate: false });
    await once(ws, 'open');
  });
  after(async () => {
    if (ws.readyState === WsClient.OPEN) {
      ws.close(1000);
      await once(ws, 'close');
    }
    await server.close();
  });

  for (const n of SIZES) {
    test(`text of ${n} bytes, whole`, async () => {
      const text = textOf(n);
      ws.send(text);
      const [data, isBinary] = await nextWsMessage(ws);
      assert.equal(isBinary, false);
      assert.equal(data.length, n);
      assert.ok(data.equals(Buffer.from(text)));
    });
    test(`binary of ${n} bytes, whole`, async () => {
      const payload = randomBytes(n);
      ws.send(payload, { binary: true });
      const [data, isBinary] = await nextWsMessage(ws);
      assert.equal(isBinary, true);
      assert.ok(data.equals(payload));
    });
  }

  for (const n of [1, 1000, MiB, 16 * MiB]) {
    test(`binary of ${n} bytes, fragmented by ws (send with fin: false)`, async () => {
      const payload = randomBytes(n);
      const pieces = Math.min(n, 16);
      const size = Math.ceil(n / pieces);
      for (let at = 0; at < n; at += size) {
        ws.send(payload.subarray(at, at + size), { binary: true, fin: at + size >= n });
      }
      const [data, isBinary] = await nextWsMessage(ws);
      assert.equal(isBinary, true);
      assert.ok(data.equals(payload));
    });
    test(`text of ${n} bytes, fragmented by ws inside multi-byte characters`, async () => {
      const bytes = Buffer.from(textOf(n));
      const size = Math.max(1, Math.ceil(n / 7)); // odd cuts land inside characters
      for (let at = 0; at < n; at += size) {
        // ws sends Buffers as binary unless told: { binary: false } keeps the text opcode.
        ws.send(bytes.subarray(at, at + size), { binary: false, fin: at + size >= n });
      }
      const [data, isBinary] = await nextWsMessage(ws);
      assert.equal(isBinary, false);
      assert.ok(data.equals(bytes));
    });
  }

  test('pings get pongs with the same payload, between fragments too', async () => {
    for (const payload of ['', 'ping!', 'x'.repeat(125)]) {
      const pong = once(ws, 'pong');
      ws.ping(payload);
      const [data] = await pong as [Buffer];
      assert.equal(data.toString(), payload);
    }
    const pong = once(ws, 'pong');
    const message = nextWsMessage(ws); // listen now: the pong and the echo may arrive in one read
    ws.send('frag-', { fin: false });
    ws.ping('in between');
    ws.send('ment', { fin: true });
    assert.equal(((await pong)[0] as Buffer).toString(), 'in between');
    const [data] = await message;
    assert.equal(data.toString(), 'frag-ment');
  });

  test('many messages in flight come back in order', async () => {
    const got: string[] = [];
    const done = new Promise<void>((resolve) => {
      const on = (data: RawData) => {
        got.push(toBuffer(data).toString());
        if (got.length === 500) { ws.off('message', on); resolve(); }
      };
      ws.on('message', on);
    });
    for (let i = 0; i < 500; i++) ws.send(`m${i}`);
    await done;
    assert.deepEqual(got, Array.from({ length: 500 }, (_, i) => `m${i}`));
  });

  test('a clean close handshake with a code and reason', async () => {
    const extra = new WsClient(`ws://127.0.0.1:${server.port}/echo`, { perMessageDeflate: false });
    await once(extra, 'open');
    extra.close(4321, 'done here');
    const [code] = await once(extra, 'close') as [number, Buffer];
    assert.equal(code, 4321, 'the server echoes the close code');
  });

  test('a ws client with permessage-deflate off gets no extension header from /echo', async () => {
    assert.equal(ws.extensions, '');
  });
});

describe('our client ↔ ws WebSocketServer', () => {
  let wss: WsServer;
  let url: string;
  before(async () => {
    wss = new WsServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
    wss.on('connection', (peer, req) => {
      const path = req.url ?? '/';
      if (path.startsWith('/close/')) {
        const [, , code, reason] = path.split('/');
        peer.close(Number(code), decodeURIComponent(reason ?? ''));
        return;
      }
      peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary }));
    });
  });
  after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  });

  test('text and binary of 0 B to 16 MiB round-trip through a ws echo', async () => {
    const ours = connect(url);
    await once(ours, 'open');
    await echoEverySize(ours);
    ours.close(1000);
    await once(ours, 'close');
  });

  test('ping/pong in both directions', async () => {
    const connected = once(wss, 'connection');
    const ours = connect(url);
    await once(ours, 'open');
    const [peer] = await connected as [WsClient];
    const pong = once(ours, 'pong');
    ours.ping('from ours');
    assert.equal(((await pong)[0] as Buffer).toString(), 'from ours');
    const theirPong = once(peer, 'pong');
    const ourPing = once(ours, 'ping');
    peer.ping('from ws');
    assert.equal(((await ourPing)[0] as Buffer).toString(), 'from ws');
    assert.equal(((await theirPong)[0] as Buffer).toString(), 'from ws', 'our automatic pong reached ws');
    ours.close(1000);
    await once(ours, 'close');
  });

  for (const [code, reason] of [[1000, ''], [1001, 'going away'], [1011, 'oops'], [4000, 'app code ✓']] as const) {
    test(`ws closes with ${code}: our client reports the code and reason`, async () => {
      const ours = connect(`${url}close/${code}/${encodeURIComponent(reason)}`);
      const [got, why] = await once(ours, 'close') as [number, Buffer];
      assert.equal(got, code);
      assert.equal(why.toString(), reason);
    });
  }

  test('our client closes with 3001: ws sees the code and reason', async () => {
    const connected = once(wss, 'connection');
    const ours = connect(url);
    await once(ours, 'open');
    const [peer] = await connected as [WsClient];
    const theirs = once(peer, 'close');
    const ourClose = once(ours, 'close');
    ours.close(3001, 'client leaving');
    const [code, reason] = await theirs as [number, Buffer];
    assert.equal(code, 3001);
    assert.equal(reason.toString(), 'client leaving');
    const [ourCode] = await ourClose as [number];
    assert.equal(ourCode, 3001);
  });

  test('our client frames are masked with fresh keys (ws refuses unmasked ones)', async () => {
    // ws fails an unmasked client frame with 1002; a clean echo of many frames shows every one was masked.
    const ours = connect(url);
    await once(ours, 'open');
    for (let i = 0; i < 50; i++) {
      ours.send(`masked ${i}`);
      const [data] = await nextMessage(ours);
      assert.equal(data.toString(), `masked ${i}`);
    }
    ours.close(1000);
    const [code] = await once(ours, 'close') as [number];
    assert.equal(code, 1000);
  });
});

describe('our client ↔ our /echo', () => {
  let server: TestServer;
  before(async () => { server = await startServer(); });
  after(async () => { await server.close(); });

  test('text and binary of 0 B to 16 MiB, pings, and a clean close', async () => {
    const ours = connect(`ws://127.0.0.1:${server.port}/echo`);
    await once(ours, 'open');
    await echoEverySize(ours);
    const pong = once(ours, 'pong');
    ours.ping('are you there');
    assert.equal(((await pong)[0] as Buffer).toString(), 'are you there');
    ours.close(1000, 'bye');
    const [code] = await once(ours, 'close') as [number];
    assert.equal(code, 1000);
  });

  test('a message over the limit closes our client with 1009', async () => {
    const small = await startServer({ maxMessage: 1024 });
    try {
      const ours = connect(`ws://127.0.0.1:${small.port}/echo`);
      await once(ours, 'open');
      ours.send(Buffer.alloc(1025));
      const [code] = await once(ours, 'close') as [number];
      assert.equal(code, 1009);
    } finally {
      await small.close();
    }
  });
});
