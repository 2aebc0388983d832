/**
 * The push layer's limits (docs/PROTOCOL.md §6.1): open streams, held long
 * polls, channels per connection, channels per server. Each refuses cleanly
 * (503 / 400 with `{"error"}`, or close 1013 / 1008 in band), is counted in
 * `pushwire_refusals_total`, and leaves nothing open. And the push metrics
 * (§6.2): published, delivered and subscriptions by technique.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { LimitRefused, mountPush } from '../../src/push/index.js';
import { Router } from '../../src/http/router.js';
import { connect } from '../../src/websocket/client.js';
import { metric, openUpgrade } from '../hardening/helpers.js';
import { openStream, request, startServer, until, type TestServer } from './helpers.js';

let s: TestServer;
before(async () => {
  s = await startServer({ maxStreams: 2, maxHeldPolls: 1, maxSubscriptionsPerConnection: 3, maxChannels: 40 });
});
after(() => s.stop());

const refusals = (reason: string) => metric(s.server.metrics.render(), `pushwire_refusals_total{reason="${reason}"}`);

function wsClose(query: string, frames: string[]): Promise<{ code: number; reason: string; messages: string[] }> {
  const ws = connect(`ws://127.0.0.1:${s.port}/push/ws?${query}`);
  const messages: string[] = [];
  ws.on('error', () => {});
  ws.on('open', () => { for (const f of frames) ws.send(f); });
  ws.on('message', (d: Buffer) => messages.push(d.toString()));
  return new Promise((resolve) => ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString(), messages })));
}
const subscribe = (channel: string) => JSON.stringify({ event: 'push:subscribe', data: { channel } });

test('open streams (SSE and iframe together): past maxStreams 503, counted, and a place frees when one ends', async () => {
  const before = refusals('max_streams');
  const a = openStream(s.base, 'sse', 'lim-s', null);
  const b = openStream(s.base, 'iframe', 'lim-s', null);
  await Promise.all([a.ready, b.ready]);
  for (const path of ['/push/sse?channel=lim-s', '/push/iframe?channel=lim-s&callback=f']) {
    const answer = await request(`${s.base}${path}`);
    assert.equal(answer.status, 503);
    assert.match(answer.json.error, /too many open streams \(limit 2\)/);
  }
  assert.equal(refusals('max_streams'), before + 2);
  assert.equal(s.server.push.stats().streams, 2);
  a.close();
  await until(() => s.server.push.stats().streams === 1, 2000, 'a stream released');
  const c = openStream(s.base, 'sse', 'lim-s', null);
  assert.equal((await c.response).statusCode, 200);
  b.close();
  c.close();
  await until(() => s.server.push.stats().streams === 0, 2000, 'streams released');
});

test('held long polls: past maxHeldPolls 503, counted; one answered at once is not held', async () => {
  const before = refusals('max_held_polls');
  const held = request(`${s.base}/push/longpoll?channel=lim-p&timeout=5000`);
  await until(() => s.server.push.stats().heldPolls === 1, 2000, 'the poll held');
  const refused = await request(`${s.base}/push/longpoll?channel=lim-p&timeout=5000`);
  assert.equal(refused.status, 503);
  assert.match(refused.json.error, /too many held long polls \(limit 1\)/);
  assert.equal((await request(`${s.base}/push/longpoll?channel=lim-p&timeout=0`)).status, 200);
  assert.equal(refusals('max_held_polls'), before + 1);
  await s.server.push.publish('lim-p', 'x', 1);
  assert.equal((await held).status, 200);
});

test('channels per connection: a longer channels= list gets 400 on every technique, an in-band one past it 1008', async () => {
  const before = refusals('max_subscriptions_per_connection');
  const spec = 'channels=c1,c2,c3,c4';
  for (const path of ['poll', 'longpoll', 'sse', 'iframe']) {
    const answer = await request(`${s.base}/push/${path}?${spec}&callback=f&timeout=0`);
    assert.equal(answer.status, 400, path);
    assert.match(answer.json.error, /at most 3 channels per connection/);
  }
  const upgrade = await openUpgrade(s.port, `/push/ws?${spec}`);
  assert.equal(upgrade.status, 400);
  upgrade.socket.destroy();
  // Three fit; the fourth in band closes 1008, and the same channel twice does not count.
  const { code, reason } = await wsClose('channels=c1,c2', [subscribe('c2'), subscribe('c3'), subscribe('c4')]);
  assert.equal(code, 1008);
  assert.match(reason, /at most 3 channels/);
  assert.equal(refusals('max_subscriptions_per_connection'), before + 6);
});

test('channels per server: creating one past maxChannels gets 503 / close 1013 / LimitRefused; existing channels and reads go on', async () => {
  const { push } = s.server;
  await until(() => push.stats().streams + push.stats().heldPolls + push.stats().websockets === 0, 2000, 'earlier clients gone');
  let n = 0;
  while (push.stats().channels < 40) await push.publish(`fill-${n++}`, 'x', n);
  const before = refusals('max_channels');
  await assert.rejects(async () => push.publish('one-too-many', 'x', 1), (err: unknown) => err instanceof LimitRefused && err.status === 503);
  for (const path of ['longpoll?channel=new-1&timeout=1000', 'sse?channel=new-2', 'iframe?channels=fill-0,new-3&callback=f']) {
    const answer = await request(`${s.base}/push/${path}`);
    assert.equal(answer.status, 503, path);
    assert.match(answer.json.error, /too many channels on this server \(limit 40\)/);
  }
  const upgrade = await openUpgrade(s.port, '/push/ws?channel=new-4');
  assert.equal(upgrade.status, 503);
  upgrade.socket.destroy();
  const inBand = await wsClose('channel=fill-1', [subscribe('new-5')]);
  assert.equal(inBand.code, 1013);
  assert.equal(refusals('max_channels'), before + 6);
  // A short poll creates nothing; channels that exist still take messages and subscribers.
  assert.equal((await request(`${s.base}/push/poll?channel=never-seen`)).status, 200);
  const ok = openStream(s.base, 'sse', 'fill-2', null);
  assert.equal((await ok.response).statusCode, 200);
  await push.publish('fill-2', 'x', 'still');
  await ok.inbox.waitFor(1);
  ok.close();
  assert.equal(push.stats().channels, 40);
});

test('bad limit options are a RangeError', () => {
  for (const bad of [{ maxStreams: 0 }, { maxChannels: -1 }, { maxSubscriptionsPerConnection: 1.5 }, { maxQueuedBytes: NaN }]) {
    assert.throws(() => mountPush(new Router(), bad), RangeError, JSON.stringify(bad));
  }
});

test('metrics: published, delivered and subscriptions by technique', async () => {
  const own = await startServer();
  try {
    const text = () => own.server.metrics.render();
    const value = (sample: string) => metric(text(), sample);
    const published = value('pushwire_messages_published_total');
    const sse = openStream(own.base, 'sse', 'm', null);
    const iframe = openStream(own.base, 'iframe', 'm', null);
    const ws = connect(`ws://127.0.0.1:${own.port}/push/ws?channels=m,m2`);
    const wsMessages: string[] = [];
    ws.on('message', (d: Buffer) => wsMessages.push(d.toString()));
    await Promise.all([sse.ready, iframe.ready, new Promise<void>((r) => ws.once('open', () => r()))]);
    assert.equal(value('pushwire_subscriptions_open{technique="sse"}'), 1);
    assert.equal(value('pushwire_subscriptions_open{technique="iframe"}'), 1);
    assert.equal(value('pushwire_subscriptions_open{technique="websocket"}'), 2);
    const held = request(`${own.base}/push/longpoll?channels=m,m3&timeout=5000`);
    await until(() => own.server.push.stats().heldPolls === 1, 2000, 'the poll held');
    assert.equal(value('pushwire_subscriptions_open{technique="longpoll"}'), 2);
    await own.server.push.publish('m', 'e', 1);
    await own.server.push.publish('m', 'e', 2);
    await Promise.all([sse.inbox.waitFor(2), iframe.inbox.waitFor(2), until(() => wsMessages.length === 2, 2000, 'ws messages'), held]);
    const poll = await request(`${own.base}/push/poll?channel=m&since=0`);
    assert.equal(poll.json.messages.length, 2);
    assert.equal(value('pushwire_messages_published_total'), published + 2);
    for (const [technique, count] of [['sse', 2], ['iframe', 2], ['websocket', 2], ['longpoll', 1], ['poll', 2]] as const) {
      assert.equal(value(`pushwire_messages_delivered_total{technique="${technique}"}`), count, technique);
    }
    assert.equal(value('pushwire_subscriptions_total{technique="poll"}'), 1);
    assert.equal(value('pushwire_subscriptions_total{technique="longpoll"}'), 2);
    sse.close();
    iframe.close();
    ws.close();
    await until(() => own.server.push.stats().connections === 0, 2000, 'all gone');
    for (const technique of ['poll', 'longpoll', 'sse', 'iframe', 'websocket']) {
      assert.equal(value(`pushwire_subscriptions_open{technique="${technique}"}`), 0, technique);
    }
    // Every series is there from the start, and the text is well formed.
    for (const family of ['pushwire_messages_published_total', 'pushwire_messages_delivered_total', 'pushwire_subscriptions_open', 'pushwire_slow_consumers_total', 'pushwire_authorization_refusals_total']) {
      assert.match(text(), new RegExp(`^# TYPE ${family} (counter|gauge)$`, 'm'));
    }
  } finally {
    await own.stop();
  }
});

