import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { PushClient } from '../../src/push/index.js';
import { request, startServer, until, type TestServer } from './helpers.js';
import { idsByChannel, openMuxWs } from './multiplex-clients.js';

let t: TestServer;
before(async () => { t = await startServer(); });
after(() => t.stop());

/** The status of an upgrade request to /push/ws with this query (101 if it upgraded). */
function upgradeStatus(query: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${t.base}/push/ws?${query}`, {
      agent: false,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('upgrade', (_res, socket) => { socket.destroy(); resolve(101); });
    req.on('error', reject);
    req.end();
  });
}

const many = (n: number) => Array.from({ length: n }, (_, i) => `ch${i}`).join(',');

const BAD_SPECS = [
  'channels=', 'channels=a,,b', 'channels=a%20b', 'channels=a,b%2Fc', `channels=${'x'.repeat(65)}`,
  'channels=a@', 'channels=a@x', 'channels=a@-1', 'channels=a@1.5', 'channels=a@1e3', 'channels=a@99999999999999999',
  'channels=a,a', 'channels=a@1,b,a@2', `channels=${many(101)}`,
  'channels=a&channel=b', 'channels=a&since=1', 'channels=a&channels=b',
];

test('bad channel specs get 400 with a JSON error on every subscribe path, and before any upgrade', async () => {
  for (const query of BAD_SPECS) {
    for (const path of ['poll', 'longpoll', 'sse', 'iframe']) {
      const r = await request(`${t.base}/push/${path}?${query}${path === 'iframe' ? '&callback=f' : ''}&timeout=0`.replace('?&', '?'));
      assert.equal(r.status, 400, `${path}?${query}: ${r.body}`);
      assert.equal(typeof r.json.error, 'string', `${path}?${query}`);
    }
    assert.equal(await upgradeStatus(query), 400, `ws?${query}`);
  }
  // 100 channels are fine; so is an empty /push/ws (no subscription yet).
  const r = await request(`${t.base}/push/poll?channels=${many(100)}`);
  assert.equal(r.status, 200);
  assert.equal(Object.keys(r.json.last).length, 100);
  assert.equal(await upgradeStatus(''), 101);
  // Elsewhere neither channel nor channels is still a 400.
  for (const path of ['poll', 'longpoll', 'sse', 'iframe?callback=f']) {
    assert.equal((await request(`${t.base}/push/${path}`)).status, 400, path);
  }
});

test('SSE: a Last-Event-ID that is not a compound cursor is a 400 on a channels= stream', async () => {
  for (const header of ['5', 'a', 'a@x', 'a@1,,b@2', 'a@1,a@2', '']) {
    const r = await request(`${t.base}/push/sse?channels=a,b`, { headers: { 'Last-Event-ID': header } });
    assert.equal(r.status, 400, `Last-Event-ID: ${header}`);
  }
});

test('/push/ws with no channel: push:subscribe adds channels (backlog after since, then live, tagged), push:unsubscribe drops one', async () => {
  const { push } = t.server;
  push.publish('inband.a', 'm', 1);
  push.publish('inband.a', 'm', 2);
  const sub = openMuxWs(t.base, '');
  await sub.ready;
  await until(() => push.stats().websockets === 1, 2000, 'the connection');
  assert.equal(push.stats().subscriptions, 0);
  push.publish('inband.a', 'm', 'not subscribed yet');

  sub.send('push:subscribe', { channel: 'inband.a', since: 1 });
  sub.send('push:subscribe', { channel: 'inband.b' });
  // Subscribing again changes nothing (no second backlog).
  sub.send('push:subscribe', { channel: 'inband.a', since: 0 });
  sub.send('push:subscribe', { channel: 'inband.b', since: null });
  await until(() => push.stats().subscriptions === 2, 2000, 'two channels');
  push.publish('inband.b', 'm', 'b1');
  push.publish('inband.a', 'end', null);
  push.publish('inband.b', 'end', null);
  await sub.inbox.sentinels(['inband.a', 'inband.b']);
  assert.deepEqual(sub.inbox.messages, [
    { channel: 'inband.a', id: 2, event: 'm', data: 2 },
    { channel: 'inband.a', id: 3, event: 'm', data: 'not subscribed yet' },
    { channel: 'inband.b', id: 1, event: 'm', data: 'b1' },
    { channel: 'inband.a', id: 4, event: 'end', data: null },
    { channel: 'inband.b', id: 2, event: 'end', data: null },
  ]);

  sub.send('push:unsubscribe', { channel: 'inband.a' });
  sub.send('push:unsubscribe', { channel: 'never.subscribed' });
  await until(() => push.stats().subscriptions === 1, 2000, 'one channel left');
  push.publish('inband.a', 'm', 'after unsubscribe');
  push.publish('inband.b', 'end', null);
  await sub.inbox.until((ms) => ms.filter((m) => m.event === 'end').length === 3, 'the last sentinel');
  assert.deepEqual(idsByChannel(sub.inbox.messages), { 'inband.a': [2, 3, 4], 'inband.b': [1, 2, 3] });

  // A channel given up and taken again from a cursor: what it missed, once.
  sub.send('push:subscribe', { channel: 'inband.a', since: 4 });
  push.publish('inband.a', 'end', null);
  await sub.inbox.until((ms) => ms.filter((m) => m.event === 'end').length === 4, 'the resubscribed sentinel');
  assert.deepEqual(idsByChannel(sub.inbox.messages)['inband.a'], [2, 3, 4, 5, 6]);
  sub.close();
  await until(() => push.stats().connections === 0 && push.stats().subscriptions === 0, 2000, 'released');
});

test('an event handler sees the channels of the WebSocket client that sent the event', async () => {
  const { push } = t.server;
  const handler = (_data: unknown, client: PushClient) => { client.emit('channels', { channel: client.channel, channels: client.channels }); };
  push.on('whoami', handler);
  try {
    const sub = openMuxWs(t.base, 'channels=who.a,who.b');
    await sub.ready;
    sub.send('push:subscribe', { channel: 'who.c' });
    sub.send('push:unsubscribe', { channel: 'who.a' });
    sub.send('whoami', null);
    const [reply] = await sub.inbox.until((ms) => ms.length === 1, 'the reply');
    assert.deepEqual(reply, { event: 'channels', data: { channel: null, channels: ['who.b', 'who.c'] } });
    sub.close();
  } finally {
    push.off('whoami', handler);
  }
});

test('in band on a channel=C connection: C stays untagged, added channels are tagged; a gap on an added channel names it', async () => {
  const { push } = t.server;
  push.publish('single.c', 'm', 1);
  const sub = openMuxWs(t.base, 'channel=single.c&since=0');
  await sub.ready;
  sub.send('push:subscribe', { channel: 'single.d', since: 7 });
  // The cursor is above d's last id: a gap notice at once, which also says the subscription is in place.
  await sub.inbox.until((ms) => ms.some((m) => m.event === 'push:gap'), 'the gap notice');
  push.publish('single.d', 'm', 'd1');
  push.publish('single.c', 'm', 2);
  await sub.inbox.until((ms) => ms.length === 4, 'four messages');
  assert.deepEqual(sub.inbox.messages, [
    { id: 1, event: 'm', data: 1 },
    { channel: 'single.d', id: 0, event: 'push:gap', data: null },
    { channel: 'single.d', id: 1, event: 'm', data: 'd1' },
    { id: 2, event: 'm', data: 2 },
  ] as never);
  sub.close();
});

test('malformed push:subscribe / push:unsubscribe, or any other push: event, closes with 1008; other clients go on', async () => {
  const { push } = t.server;
  const watcher = openMuxWs(t.base, 'channels=bystander');
  await watcher.ready;
  const bad: Array<[string, unknown]> = [
    ['push:subscribe', null], ['push:subscribe', 'a'], ['push:subscribe', ['a']], ['push:subscribe', {}],
    ['push:subscribe', { channel: 'bad name' }], ['push:subscribe', { channel: 5 }], ['push:subscribe', { channel: '' }],
    ['push:subscribe', { channel: 'a', since: -1 }], ['push:subscribe', { channel: 'a', since: 'x' }],
    ['push:subscribe', { channel: 'a', since: 1.5 }], ['push:subscribe', { channel: 'a', since: '3' }],
    ['push:unsubscribe', { channel: 'bad name' }], ['push:unsubscribe', null], ['push:unsubscribe', {}],
    ['push:gap', null], ['push:hello', {}], ['push:', 1],
  ];
  for (const [event, data] of bad) {
    const sub = openMuxWs(t.base, '');
    await sub.ready;
    sub.send(event, data);
    const closed = await sub.closed;
    assert.equal(closed.code, 1008, `${event} ${JSON.stringify(data)}`);
    assert.ok(closed.reason.length > 0);
  }
  // 100 channels on one connection, and not one more.
  const full = openMuxWs(t.base, `channels=${many(100)}`);
  await full.ready;
  full.send('push:subscribe', { channel: 'one.too.many' });
  assert.equal((await full.closed).code, 1008);

  const m = await push.publish('bystander', 'still', 'here');
  await watcher.inbox.until((ms) => ms.length === 1, 'the bystander message');
  assert.deepEqual(watcher.inbox.messages, [{ channel: 'bystander', id: m.id, event: 'still', data: 'here' }]);
  watcher.close();
});

test('POST /push/emit refuses push: events (they belong to a WebSocket)', async () => {
  const r = await request(`${t.base}/push/emit`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ event: 'push:subscribe', data: { channel: 'a' } }),
  });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /reserved/);
});
