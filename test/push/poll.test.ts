import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { request, startServer, until, type TestServer } from './helpers.js';

let t: TestServer;
before(async () => { t = await startServer({ retention: 5, maxHeldPolls: 3 }); });
after(() => t.stop());

test('short poll: since, last, order, and the default cursor', async () => {
  const { push } = t.server;
  const ch = 'poll-basic';
  let r = await request(`${t.base}/push/poll?channel=${ch}&since=0`);
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type']!, /^application\/json/);
  assert.deepEqual(r.json, { messages: [], last: 0, gap: false });
  for (let i = 1; i <= 3; i++) push.publish(ch, 'tick', { i });
  r = await request(`${t.base}/push/poll?channel=${ch}&since=0`);
  assert.deepEqual(r.json, {
    messages: [1, 2, 3].map((i) => ({ id: i, event: 'tick', data: { i } })),
    last: 3, gap: false,
  });
  r = await request(`${t.base}/push/poll?channel=${ch}&since=2`);
  assert.deepEqual(r.json.messages.map((m: { id: number }) => m.id), [3]);
  // No since: only what comes after the current last id.
  r = await request(`${t.base}/push/poll?channel=${ch}`);
  assert.deepEqual(r.json, { messages: [], last: 3, gap: false });
});

test('short poll: gap below the retained window and above last', async () => {
  const { push } = t.server;
  const ch = 'poll-gap';
  for (let i = 1; i <= 8; i++) push.publish(ch, 'tick', i); // retention 5: ids 4..8 kept
  let r = await request(`${t.base}/push/poll?channel=${ch}&since=3`);
  assert.equal(r.json.gap, false, 'since = oldest - 1 is no gap');
  assert.deepEqual(r.json.messages.map((m: { id: number }) => m.id), [4, 5, 6, 7, 8]);
  r = await request(`${t.base}/push/poll?channel=${ch}&since=2`);
  assert.equal(r.json.gap, true);
  assert.equal(r.json.last, 8);
  r = await request(`${t.base}/push/poll?channel=${ch}&since=9`);
  assert.deepEqual(r.json, { messages: [], last: 8, gap: true });
});

test('bad parameters get 400 with a JSON error', async () => {
  const bad = [
    '/push/poll', '/push/poll?channel=', '/push/poll?channel=a%2Fb', `/push/poll?channel=${'x'.repeat(65)}`,
    '/push/poll?channel=a&since=-1', '/push/poll?channel=a&since=1.5', '/push/poll?channel=a&since=abc',
    '/push/longpoll?channel=a&timeout=60001', '/push/longpoll?channel=a&timeout=-5', '/push/longpoll?since=1',
    '/push/sse?channel=a&since=x', '/push/iframe?channel=a', '/push/iframe?channel=a&callback=1abc',
    '/push/iframe?channel=a&callback=alert(1)', '/push/iframe?channel=a&callback=a..b',
  ];
  for (const path of bad) {
    const r = await request(t.base + path);
    assert.equal(r.status, 400, path);
    assert.equal(typeof r.json.error, 'string', path);
  }
  const sse = await request(`${t.base}/push/sse?channel=a`, { headers: { 'Last-Event-ID': 'nope' } });
  assert.equal(sse.status, 400);
  const longest = await request(`${t.base}/push/poll?channel=${'x'.repeat(64)}&since=0`);
  assert.equal(longest.status, 200);
});

test('long poll: held until a publish wakes it, then answered with that message', async () => {
  const { push } = t.server;
  const ch = 'lp-wake';
  push.publish(ch, 'tick', 1);
  const started = Date.now();
  const pending = request(`${t.base}/push/longpoll?channel=${ch}&since=1&timeout=5000`);
  let answered = false;
  void pending.then(() => { answered = true; }, () => {});
  await until(() => push.stats().heldPolls === 1, 2000, 'the poll to be held');
  // Held, not answered: the request is still waiting (nothing runs between this check and the publish).
  assert.equal(answered, false);
  push.publish(ch, 'tick', 2);
  const r = await pending;
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { messages: [{ id: 2, event: 'tick', data: 2 }], last: 2, gap: false });
  assert.ok(Date.now() - started < 2000);
  assert.equal(push.stats().heldPolls, 0);
});

test('long poll: answered at once when messages or a gap are there, and on timeout with []', async () => {
  const { push } = t.server;
  const ch = 'lp-now';
  push.publish(ch, 'a', null);
  push.publish(ch, 'b', null);
  let r = await request(`${t.base}/push/longpoll?channel=${ch}&since=0`);
  assert.deepEqual(r.json.messages.map((m: { event: string }) => m.event), ['a', 'b']);
  r = await request(`${t.base}/push/longpoll?channel=${ch}&since=7`);
  assert.deepEqual(r.json, { messages: [], last: 2, gap: true });
  const started = Date.now();
  r = await request(`${t.base}/push/longpoll?channel=${ch}&timeout=300`);
  const took = Date.now() - started;
  assert.deepEqual(r.json, { messages: [], last: 2, gap: false });
  assert.ok(took >= 280 && took < 2000, `timeout took ${took} ms`);
  r = await request(`${t.base}/push/longpoll?channel=${ch}&timeout=0`);
  assert.deepEqual(r.json, { messages: [], last: 2, gap: false });
});

test('long poll: a client that goes away is let go at once', async () => {
  const { push } = t.server;
  const req = http.get(`${t.base}/push/longpoll?channel=lp-abort&timeout=60000`);
  req.on('error', () => {});
  await until(() => push.stats().heldPolls === 1, 2000, 'the poll to be held');
  assert.equal(push.stats().subscriptions, 1);
  req.destroy();
  await until(() => push.stats().heldPolls === 0 && push.stats().subscriptions === 0, 2000, 'the poll to be released');
});

test('long poll: past the cap of held requests, 503', async () => {
  const { push } = t.server;
  const agent = new http.Agent({ keepAlive: false, maxSockets: 10 });
  const held = [1, 2, 3].map(() => request(`${t.base}/push/longpoll?channel=lp-cap&timeout=60000`, { agent }));
  await until(() => push.stats().heldPolls === 3, 2000, '3 held polls');
  const refused = await request(`${t.base}/push/longpoll?channel=lp-cap&timeout=60000`, { agent });
  assert.equal(refused.status, 503);
  assert.equal(typeof refused.json.error, 'string');
  push.publish('lp-cap', 'go', true);
  for (const r of await Promise.all(held)) assert.equal(r.json.messages[0].data, true);
  agent.destroy();
});

test('many polls on a keep-alive socket do not crash on a half request', async () => {
  // A request cut in the middle must not disturb the server.
  const socket = net.connect(t.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.end('GET /push/longpoll?channel=half&timeout=60000 HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  socket.resume();
  await new Promise((resolve) => socket.once('close', resolve)); // the server has seen the half request and let go
  const r = await request(`${t.base}/push/poll?channel=half&since=0`);
  assert.equal(r.status, 200);
  assert.equal(t.server.push.stats().heldPolls, 0);
});
