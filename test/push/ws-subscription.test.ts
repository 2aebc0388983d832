import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import WsClient from 'ws';
import { EventRefused, type PushClient } from '../../src/push/index.js';
import { openWs, request, startServer, until, type TestServer } from './helpers.js';

let t: TestServer;
before(async () => { t = await startServer({ maxQueuedBytes: 256 * 1024 }); });
after(() => t.stop());

test('ws: backlog after since, then live messages, one text frame each, in order', async () => {
  const { push } = t.server;
  const ch = 'ws-basic';
  for (let i = 1; i <= 3; i++) push.publish(ch, 'tick', { i });
  const sub = openWs(t.base, ch, 1);
  await sub.ready;
  push.publish(ch, 'tock', 'four');
  assert.deepEqual(await sub.inbox.waitFor(3), [
    { id: 2, event: 'tick', data: { i: 2 } },
    { id: 3, event: 'tick', data: { i: 3 } },
    { id: 4, event: 'tock', data: 'four' },
  ]);
  // No since: only new messages.
  const fresh = openWs(t.base, ch, null);
  await fresh.ready;
  push.publish(ch, 'tick', 5);
  await fresh.inbox.waitFor(1);
  push.publish(ch, 'sentinel', null); // anything extra before it would be a duplicate
  assert.deepEqual((await fresh.inbox.waitForId(6)).map((m) => m.id), [5, 6]);
  sub.close();
  fresh.close();
});

test('ws: a gap is a first push:gap message, then messages after the last id', async () => {
  const { push } = t.server;
  const ch = 'ws-gap';
  push.publish(ch, 'tick', 1);
  push.publish(ch, 'tick', 2);
  const sub = openWs(t.base, ch, 99);
  await sub.ready;
  push.publish(ch, 'tick', 3);
  assert.deepEqual(await sub.inbox.waitFor(2), [{ id: 2, event: 'push:gap', data: null }, { id: 3, event: 'tick', data: 3 }]);
  sub.close();
});

test('ws: a bad channel or since is refused with HTTP 400 before the upgrade', async () => {
  for (const q of ['channel=a%20b', 'since=1', 'channel=ok&since=-2', 'channel=ok&since=x']) {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${t.base}/push/ws?${q}`, {
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      req.on('response', (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('upgrade', (_res, socket) => { socket.destroy(); reject(new Error('upgraded')); });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 400, q);
  }
});

test('ws: client events reach handlers with a client handle that can emit and publish', async () => {
  const { push } = t.server;
  const seen: Array<{ data: unknown; client: PushClient }> = [];
  push.on('chat message', (data, client) => {
    if (typeof data !== 'string' || data.length === 0) throw new EventRefused('chat message must be a non-empty string');
    seen.push({ data, client });
    client.emit('ack', { got: data });
    client.publish('ws-chat', 'chat message', data);
  });
  const sub = openWs(t.base, 'ws-chat', null);
  await sub.ready;
  sub.ws.send(JSON.stringify({ event: 'chat message', data: 'hello' }));
  sub.ws.send(JSON.stringify({ event: 'nobody listens', data: null }));
  const got = await sub.inbox.waitFor(2);
  assert.deepEqual(got[0], { event: 'ack', data: { got: 'hello' } } as unknown);
  assert.deepEqual(got[1], { id: 1, event: 'chat message', data: 'hello' });
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.client.transport, 'websocket');
  assert.equal(seen[0]!.client.channel, 'ws-chat');
  assert.equal(sub.ws.readyState, 1, 'an event with no handler is ignored');
  sub.close();
});

test('ws: malformed or refused events close with 1008; oversized messages with 1009', async () => {
  const bad: Array<string | Buffer> = [
    'not json', '[1,2]', '"text"', 'null', '{"data":1}', '{"event":"","data":1}', '{"event":5,"data":1}',
    '{"event":"chat message"}', '{"event":"chat message","data":42}', Buffer.from('{"event":"x","data":1}'),
  ];
  for (const frame of bad) {
    const sub = openWs(t.base, 'ws-bad', null);
    await sub.ready;
    sub.ws.send(frame, { binary: Buffer.isBuffer(frame) });
    const closed = await sub.closed;
    assert.equal(closed.code, 1008, String(frame));
  }
  const big = openWs(t.base, 'ws-bad', null);
  await big.ready;
  big.ws.send('x'.repeat(1024 * 1024 + 1));
  assert.equal((await big.closed).code, 1009);
  await until(() => t.server.push.stats().websockets === 0, 2000, 'all closed');
});

test('POST /push/emit: 202, 400 for malformed or refused, 413 past 64 KiB', async () => {
  const { push } = t.server;
  const got: unknown[] = [];
  push.on('emit test', (data, client) => {
    if (data === 'refuse me') throw new EventRefused('refused');
    got.push(data);
    assert.equal(client.transport, 'http');
    client.emit('pong', data);
  });
  const post = (body: string | Buffer) => request(`${t.base}/push/emit`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  let r = await post('{"event":"emit test","data":{"x":1}}');
  assert.equal(r.status, 202);
  assert.deepEqual(r.json.replies, [{ event: 'pong', data: { x: 1 } }]);
  assert.deepEqual(got, [{ x: 1 }]);
  r = await post('{"event":"no handler here","data":[]}');
  assert.equal(r.status, 202);
  for (const body of ['nope', '[]', '5', '{"event":"emit test"}', '{"event":"","data":1}', '{"event":"emit test","data":"refuse me"}']) {
    r = await post(body);
    assert.equal(r.status, 400, body);
    assert.equal(typeof r.json.error, 'string');
  }
  // Exactly 64 KiB is fine; one byte more is 413.
  const head = '{"event":"emit test","data":"';
  const exact = head + 'z'.repeat(64 * 1024 - head.length - 2) + '"}';
  assert.equal(Buffer.byteLength(exact), 64 * 1024);
  assert.equal((await post(exact)).status, 202);
  assert.equal((await post(exact + ' ')).status, 413);
  r = await request(`${t.base}/push/emit`);
  assert.equal(r.status, 405);
});

test('ws: a disconnect frees the subscription at once', async () => {
  const { push } = t.server;
  const subs = [1, 2, 3].map(() => openWs(t.base, 'ws-free', null));
  await Promise.all(subs.map((s) => s.ready));
  await until(() => push.stats().websockets === 3, 2000, 'three subscribers');
  assert.equal(push.stats().subscriptions, 3);
  subs[0]!.close();
  subs[1]!.ws.terminate(); // no closing handshake: TCP just goes away
  subs[2]!.close();
  await until(() => push.stats().websockets === 0 && push.stats().subscriptions === 0, 2000, 'subscriptions released');
});

test('ws slow consumer: a reader that never reads is cut off with 1013, queue bounded', async (tc) => {
  const { push, http: server } = t.server;
  const ch = 'ws-slow';
  const serverSockets: import('node:net').Socket[] = [];
  const onConnection = (s: import('node:net').Socket) => serverSockets.push(s);
  server.on('connection', onConnection);
  // Uncompressed, so that the 64 KiB messages really fill the queue (they would deflate to almost nothing).
  const client = new WsClient(`ws://127.0.0.1:${t.port}/push/ws?channel=${ch}`, { perMessageDeflate: false });
  await new Promise((resolve) => client.once('open', resolve));
  const tcp = (client as unknown as { _socket: import('node:net').Socket })._socket;
  tcp.pause();
  await until(() => push.stats().websockets === 1, 2000, 'the subscription');
  const closed = new Promise<number>((resolve) => client.once('close', (code: number) => resolve(code)));
  const payload = 'w'.repeat(64 * 1024);
  let published = 0;
  let maxQueued = 0;
  while (push.stats().websockets > 0 && published < 1024) {
    push.publish(ch, 'blob', payload);
    published++;
    await new Promise((resolve) => setImmediate(resolve));
    for (const s of serverSockets) maxQueued = Math.max(maxQueued, s.writableLength);
  }
  tc.diagnostic(`cut off after ${published} messages of 64 KiB; most queued in user space: ${maxQueued} bytes`);
  assert.equal(push.stats().websockets, 0);
  assert.equal(push.stats().subscriptions, 0);
  assert.match(t.server.metrics.render(), /^pushwire_slow_consumers_total\{technique="websocket"\} 1$/m);
  assert.ok(maxQueued <= 256 * 1024 + 70 * 1024, `queued ${maxQueued} bytes`);
  // Reading again, the client gets what was queued, then the close frame.
  tcp.resume();
  assert.equal(await closed, 1013);
  server.off('connection', onConnection);
});

test('ws subscribers that negotiated permessage-deflate get each message compressed once for all of them', async () => {
  const ch = 'ws-deflate';
  const clients = await Promise.all([0, 1, 2].map(async () => {
    const c = new WsClient(`ws://127.0.0.1:${t.port}/push/ws?channel=${ch}`, { perMessageDeflate: true });
    await new Promise((resolve) => c.once('open', resolve));
    return c;
  }));
  await until(() => t.server.push.stats().websockets >= 3, 2000, 'the subscriptions');
  const big = { text: 'compress me '.repeat(500) };
  const got = clients.map((c) => new Promise<unknown>((resolve) => c.once('message', (d: Buffer) => resolve(JSON.parse(String(d))))));
  const message = await t.server.push.publish(ch, 'big', big);
  for (const g of got) assert.deepEqual(await g, { id: message.id, event: 'big', data: big });
  // One compressed frame, cached on the message for the settings all three share.
  const prepared = message.prepared();
  const cached = [...(prepared as unknown as { compressed: Map<string, Buffer> }).compressed.values()];
  assert.equal(cached.length, 1);
  assert.ok(Buffer.isBuffer(cached[0]) && cached[0].length < message.json.length / 10, 'the shared frame is compressed');
  for (const c of clients) c.close();
});
