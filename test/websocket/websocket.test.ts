/**
 * The connection API over real sockets: message events, send callbacks,
 * bufferedAmount and backpressure ('drain'), automatic pong, the heartbeat,
 * close(code, reason) in both directions, the close timeout, terminate().
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../src/websocket/server.js';
import { WebSocket } from '../../src/websocket/websocket.js';
import { connect } from '../../src/websocket/client.js';
import { OP, RawClient, closeBody, delay } from './raw-client.js';

const MiB = 1024 * 1024;

/** A server whose next connection is handed to the test. */
async function makeServer(options: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  const nextConnection = () => once(wss, 'connection').then(([ws]) => ws as WebSocket);
  const close = () => new Promise<void>((resolve) => wss.close(() => resolve()));
  return { wss, port, nextConnection, close };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

describe('WebSocket connection API', () => {
  let srv: Awaited<ReturnType<typeof makeServer>>;
  before(async () => { srv = await makeServer(); });
  after(async () => { await srv.close(); });

  test("'message' gives (data, isBinary) for text and binary, and 'open' fires on the client", async () => {
    const server = srv.nextConnection();
    const client = connect(`ws://127.0.0.1:${srv.port}/`);
    await once(client, 'open');
    assert.equal(client.readyState, WebSocket.OPEN);
    const ws = await server;
    client.send('héllo');
    const [text, textIsBinary] = await once(ws, 'message') as [Buffer, boolean];
    assert.equal(text.toString(), 'héllo');
    assert.equal(textIsBinary, false);
    client.send(Buffer.from([1, 2, 3]));
    const [bin, binIsBinary] = await once(ws, 'message') as [Buffer, boolean];
    assert.deepEqual([...bin], [1, 2, 3]);
    assert.equal(binIsBinary, true);
    client.send(new Uint8Array([4, 5]).buffer);
    const [ab] = await once(ws, 'message') as [Buffer];
    assert.deepEqual([...ab], [4, 5]);
    client.send('as binary', { binary: true });
    const [, forced] = await once(ws, 'message') as [Buffer, boolean];
    assert.equal(forced, true);
    client.close(1000);
    await once(client, 'close');
  });

  test('send calls back once written, and with an error when the socket is not open', async () => {
    const server = srv.nextConnection();
    const client = connect(`ws://127.0.0.1:${srv.port}/`);
    await once(client, 'open');
    const ws = await server;
    const err = await new Promise<Error | null | undefined>((resolve) => ws.send('with callback', resolve));
    assert.equal(err ?? null, null);
    const [msg] = await once(client, 'message') as [Buffer];
    assert.equal(msg.toString(), 'with callback');
    ws.close(1000);
    await once(ws, 'close');
    const late = await new Promise<Error | null | undefined>((resolve) => ws.send('too late', resolve));
    assert.ok(late instanceof Error, 'send after close calls back with an error');
    assert.equal(ws.send('too late'), false);
  });

  test('automatic pong: a ping from either end is answered with its payload', async () => {
    const server = srv.nextConnection();
    const client = connect(`ws://127.0.0.1:${srv.port}/`);
    await once(client, 'open');
    const ws = await server;
    const serverSawPing = once(ws, 'ping');
    client.ping('client ping');
    const [pong] = await withTimeout(once(client, 'pong'), 2000, 'pong to the client') as [Buffer];
    assert.equal(pong.toString(), 'client ping');
    assert.equal(((await serverSawPing)[0] as Buffer).toString(), 'client ping');
    ws.ping(Buffer.from([0, 1, 2]));
    const [pong2] = await withTimeout(once(ws, 'pong'), 2000, 'pong to the server') as [Buffer];
    assert.deepEqual([...pong2], [0, 1, 2]);
    assert.throws(() => ws.ping(Buffer.alloc(126)), RangeError);
    client.close(1000);
    await once(client, 'close');
  });

  test('close(code, reason) from the server: both ends report it, the server closes TCP', async () => {
    const server = srv.nextConnection();
    const client = connect(`ws://127.0.0.1:${srv.port}/`);
    await once(client, 'open');
    const ws = await server;
    const clientClosed = once(client, 'close');
    const serverClosed = once(ws, 'close');
    ws.close(4001, 'server says bye');
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const [code, reason] = await withTimeout(clientClosed, 2000, 'client close') as [number, Buffer];
    assert.equal(code, 4001);
    assert.equal(reason.toString(), 'server says bye');
    const [scode] = await withTimeout(serverClosed, 2000, 'server close') as [number];
    assert.equal(scode, 4001, 'the client echoed the code');
    assert.equal(ws.readyState, WebSocket.CLOSED);
    assert.equal(client.readyState, WebSocket.CLOSED);
  });

  test('close(code, reason) from the client: the server reports code and reason', async () => {
    const server = srv.nextConnection();
    const client = connect(`ws://127.0.0.1:${srv.port}/`);
    await once(client, 'open');
    const ws = await server;
    const serverClosed = once(ws, 'close');
    const clientClosed = once(client, 'close');
    client.close(3000, 'client bye ✓');
    const [code, reason] = await withTimeout(serverClosed, 2000, 'server close') as [number, Buffer];
    assert.equal(code, 3000);
    assert.equal(reason.toString(), 'client bye ✓');
    const [ccode] = await withTimeout(clientClosed, 2000, 'client close') as [number];
    assert.equal(ccode, 3000);
  });

  test('close() with no code sends an empty close; bad codes and long reasons throw', async () => {
    const server = srv.nextConnection();
    const client = connect(`ws://127.0.0.1:${srv.port}/`);
    await once(client, 'open');
    const ws = await server;
    assert.throws(() => ws.close(999), RangeError);
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), RangeError);
    const serverClosed = once(ws, 'close');
    client.close();
    const [code] = await withTimeout(serverClosed, 2000, 'server close') as [number];
    assert.equal(code, 1005, 'no status received');
  });

  test('terminate() drops the connection at once: 1006 on both ends', async () => {
    const server = srv.nextConnection();
    const client = connect(`ws://127.0.0.1:${srv.port}/`);
    await once(client, 'open');
    const ws = await server;
    const clientClosed = once(client, 'close');
    ws.terminate();
    const [scode] = await withTimeout(once(ws, 'close'), 2000, 'server close') as [number];
    assert.equal(scode, 1006);
    const [ccode] = await withTimeout(clientClosed, 2000, 'client close') as [number];
    assert.equal(ccode, 1006);
  });

  test('bufferedAmount grows while the peer does not read, and drain fires when it does (backpressure)', async () => {
    const server = srv.nextConnection();
    const raw = await RawClient.connect(srv.port, '/');
    const ws = await server;
    raw.socket.pause(); // stop reading: the kernel buffers fill, then node's
    assert.equal(ws.bufferedAmount, 0);
    const chunk = Buffer.alloc(MiB, 7);
    let sent = 0;
    let sawFalse = false;
    // The kernel takes a few MiB first; past that, node buffers and bufferedAmount grows.
    while (ws.bufferedAmount < 4 * MiB && sent < 64) {
      if (!ws.send(chunk)) sawFalse = true;
      sent++;
    }
    assert.equal(sawFalse, true, 'send() returns false once the socket buffer is over its high-water mark');
    assert.ok(ws.bufferedAmount > 0, `bufferedAmount ${ws.bufferedAmount}`);
    const before = ws.bufferedAmount;
    const drained = withTimeout(once(ws, 'drain'), 5000, 'drain');
    raw.socket.resume();
    await drained;
    assert.ok(ws.bufferedAmount < before, `bufferedAmount fell after drain: ${ws.bufferedAmount} < ${before}`);
    for (let i = 0; i < sent; i++) {
      const f = await raw.nextFrame(5000);
      assert.equal(f.payload.length, MiB);
    }
    assert.equal(ws.bufferedAmount, 0);
    raw.destroy();
  });

  test('the server destroys the socket when the peer never answers its close (closeTimeout)', async () => {
    const quick = await makeServer({ closeTimeout: 300 });
    try {
      const server = quick.nextConnection();
      const raw = await RawClient.connect(quick.port, '/');
      const ws = await server;
      const started = Date.now();
      ws.close(1000, 'bye');
      const f = await raw.nextFrame();
      assert.equal(f.opcode, OP.close);
      // The raw client never answers; the server must give up after ~300 ms.
      const [code] = await withTimeout(once(ws, 'close'), 3000, 'server close after timeout') as [number];
      const took = Date.now() - started;
      assert.ok(took >= 250, `closed after ${took} ms: too early, before the timeout`);
      assert.equal(code, 1006, 'no close frame came back');
      await raw.waitEnd(2000);
    } finally {
      await quick.close();
    }
  });

  test('after a protocol error the server closes TCP even if the peer keeps its side open', async () => {
    const quick = await makeServer({ closeTimeout: 300 });
    try {
      const server = quick.nextConnection();
      const raw = await RawClient.connect(quick.port, '/');
      const ws = await server;
      const errors: Error[] = [];
      ws.on('error', (e: Error) => errors.push(e));
      const closed = new Promise<[number]>((resolve) => ws.once('close', (code: number) => resolve([code])));
      await raw.send({ opcode: OP.text, payload: 'unmasked', mask: false });
      await raw.expectClose(1002);
      const [code] = await withTimeout(closed, 3000, 'server close') as [number];
      assert.equal(code, 1002);
      assert.equal(errors.length, 1, "'error' is emitted once when listened to");
    } finally {
      await quick.close();
    }
  });

  test('a close frame from the peer is answered even while our own close is pending', async () => {
    const server = srv.nextConnection();
    const raw = await RawClient.connect(srv.port, '/');
    const ws = await server;
    ws.close(1001, 'going');
    const f = await raw.nextFrame();
    assert.equal(f.payload.readUInt16BE(0), 1001);
    await raw.send({ opcode: OP.close, payload: closeBody(1001) });
    await raw.waitEnd(2000);
    const [code] = await withTimeout(once(ws, 'close'), 2000, 'server close') as [number];
    assert.equal(code, 1001);
  });
});

describe('heartbeat', () => {
  test('terminates a peer that stops answering pings, keeps one that answers', async () => {
    const hb = await makeServer({ heartbeatInterval: 100 });
    try {
      const silentConn = hb.nextConnection();
      const silent = await RawClient.connect(hb.port, '/'); // never answers pings
      const silentWs = await silentConn;
      const aliveConn = hb.nextConnection();
      const alive = connect(`ws://127.0.0.1:${hb.port}/`); // answers automatically
      await once(alive, 'open');
      const aliveWs = await aliveConn;
      const started = Date.now();
      const [code] = await withTimeout(once(silentWs, 'close'), 2000, 'silent peer terminated') as [number];
      assert.equal(code, 1006);
      const took = Date.now() - started;
      assert.ok(took < 1000, `terminated after ${took} ms`);
      await silent.waitEnd(1000);
      const pings = (await silent.framesUntilEnd()).filter((f) => f.opcode === OP.ping);
      assert.ok(pings.length >= 1, 'the silent peer was pinged first');
      // Four more pings reach it: each came after the server checked the pong to the one before.
      for (let i = 0; i < 4; i++) await withTimeout(once(alive, 'ping'), 2000, 'the next ping');
      assert.equal(aliveWs.readyState, WebSocket.OPEN, 'a peer that answers pings stays connected');
      assert.equal(hb.wss.clients.size, 1);
      alive.close(1000);
      await once(alive, 'close');
    } finally {
      await hb.close();
    }
  });
});

describe('WebSocketServer.close()', () => {
  test('closes every client with 1001 and calls back when they are gone', async () => {
    const s = await makeServer();
    const clients = [connect(`ws://127.0.0.1:${s.port}/`), connect(`ws://127.0.0.1:${s.port}/`)];
    await Promise.all(clients.map((c) => once(c, 'open')));
    const codes = Promise.all(clients.map((c) => once(c, 'close').then(([code]) => code as number)));
    await withTimeout(s.close(), 3000, 'server close');
    assert.deepEqual(await codes, [1001, 1001]);
  });
});

describe('client errors', () => {
  test("a refused handshake gives 'error' then 'close' 1006", async () => {
    const s = await makeServer({ verifyClient: () => false });
    try {
      const client = connect(`ws://127.0.0.1:${s.port}/`);
      const [err] = await withTimeout(once(client, 'error'), 2000, 'error') as [Error];
      assert.match(err.message, /403/);
      if (client.readyState !== WebSocket.CLOSED) await once(client, 'close');
      assert.equal(client.readyState, WebSocket.CLOSED);
    } finally {
      await s.close();
    }
  });
  test("close() while connecting ends it: 'close' 1006, never 'open', and the server lets go", async () => {
    // The server's own http.Server, to see its TCP connections.
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const wss = new WebSocketServer({ server });
    const s = { wss, port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => wss.close(() => resolve())) };
    try {
      const client = connect(`ws://127.0.0.1:${s.port}/`);
      const events: string[] = [];
      client.on('open', () => events.push('open'));
      client.on('close', (code: number) => events.push(`close ${code}`));
      // Not events.once: it would listen for 'error' too, and the client reports one to a listener.
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      client.close();
      await withTimeout(closed, 2000, "'close'"); // a bound for a hung run
      assert.deepEqual(events, ['close 1006']);
      assert.equal(client.readyState, WebSocket.CLOSED);
      const deadline = Date.now() + 2000;
      while (s.wss.clients.size > 0 && Date.now() < deadline) await delay(20);
      assert.equal(s.wss.clients.size, 0, 'the server dropped the abandoned connection');
      // And no TCP connection is left open (a pooled socket would idle on).
      const connections = () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => err ? reject(err) : resolve(n)));
      while (await connections() > 0 && Date.now() < deadline) await delay(20);
      assert.equal(await connections(), 0, 'the client left no connection open');
      // 'close' is the last event: no 'open' came after it while the server was watched.
      assert.deepEqual(events, ['close 1006']);
    } finally {
      await s.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
  test('a bad URL scheme throws', () => {
    assert.throws(() => connect('http://127.0.0.1:1/'), SyntaxError);
  });
});
