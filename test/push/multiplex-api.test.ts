import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PushMessage } from '../../src/push/index.js';
import { publishNow, startServer, type TestServer } from './helpers.js';

let t: TestServer;
before(async () => { t = await startServer({ retention: 5 }); });
after(() => t.stop());

const brief = (m: PushMessage) => `${m.channel}:${m.id}:${m.event}`;

test('PushApi.subscribe: several channels in process, backlog then live, add and remove, cursors, gap, close', async () => {
  const { push } = t.server;
  push.publish('api.a', 'm', 1);
  push.publish('api.a', 'm', 2);
  for (let i = 0; i < 8; i++) push.publish('api.gappy', 'm', i); // retention 5: ids 4..8 kept
  const seen: string[] = [];
  const sub = push.subscribe({ 'api.a': 1, 'api.b': null }, (m) => seen.push(brief(m)));
  push.publish('api.a', 'm', 3); // while the backlog is read: after it, once
  await sub.ready;
  assert.deepEqual(seen, ['api.a:2:m', 'api.a:3:m']);
  assert.deepEqual(push.stats().local, 1);
  assert.deepEqual(sub.cursors(), { 'api.a': 3, 'api.b': 0 });

  push.publish('api.b', 'm', 'b');
  push.publish('api.other', 'm', 'not subscribed');
  const added = sub.add('api.gappy', 1);
  await sub.add('api.a', 0); // already there: no second backlog
  await added;
  push.publish('api.gappy', 'm', 'live');
  assert.deepEqual(seen, ['api.a:2:m', 'api.a:3:m', 'api.b:1:m', 'api.gappy:8:push:gap', 'api.gappy:9:m']);
  assert.equal(push.stats().subscriptions, 3);

  assert.equal(sub.remove('api.a'), true);
  assert.equal(sub.remove('api.a'), false);
  push.publish('api.a', 'm', 'after remove');
  assert.deepEqual(sub.cursors(), { 'api.b': 1, 'api.gappy': 9 });
  assert.equal(seen.length, 5);

  sub.close();
  assert.equal(sub.closed, true);
  push.publish('api.b', 'm', 'after close');
  assert.equal(seen.length, 5);
  assert.deepEqual([push.stats().local, push.stats().subscriptions], [0, 0]);
  assert.throws(() => sub.add('api.a'), /closed/);
});

test('PushApi.subscribe: a list of names, one name, and bad input', async () => {
  const { push } = t.server;
  const seen: string[] = [];
  const one = push.subscribe('api.one', (m) => seen.push(brief(m)));
  const list = push.subscribe(['api.one', 'api.two'], (m) => seen.push('list ' + brief(m)));
  await Promise.all([one.ready, list.ready]);
  push.publish('api.two', 'm', 2);
  push.publish('api.one', 'm', 1);
  assert.deepEqual(seen, ['list api.two:1:m', 'api.one:1:m', 'list api.one:1:m']);
  one.close();
  list.close();
  assert.throws(() => push.subscribe('bad name', () => {}), TypeError);
  assert.throws(() => push.subscribe({ ok: -1 }, () => {}), TypeError);
  assert.throws(() => push.subscribe(Array.from({ length: 101 }, (_, i) => `c${i}`), () => {}), RangeError);
  assert.throws(() => push.subscribe('ok', null as never), TypeError);
  assert.equal(push.stats().local, 0);
  assert.equal(push.stats().subscriptions, 0);
});

test('the tagged wire forms of a message are built once, on first use, and shared', () => {
  const { push } = t.server;
  const m = publishNow(push, 'api.forms', 'm', { text: '</script>\u2028' });
  assert.equal(m.taggedJson, `{"channel":"api.forms","id":1,"event":"m","data":{"text":"</script>\u2028"}}`);
  assert.deepEqual(JSON.parse(m.taggedJson), { channel: 'api.forms', id: 1, event: 'm', data: { text: '</script>\u2028' } });
  assert.equal(m.forms(true), m.forms(true));
  assert.notEqual(m.forms(true), m.forms(false));
  assert.equal(m.forms(true).prepared(), m.forms(true).prepared());
  assert.equal(m.forms(true).prepared().frame, m.forms(true).prepared().frame);
  assert.equal(m.forms(true).iframe('pw.f'), m.forms(true).iframe('pw.f'));
  assert.match(m.forms(true).iframe('pw.f').toString(), /^<script>_\(\)&&parent\.pw\.f\(\{"channel":"api\.forms",.*\\u003c\/script>\\u2028.*\)<\/script>\n$/);
  assert.equal(m.taggedSseTail(), m.taggedSseTail());
  assert.equal(m.taggedSseTail().toString(), `event: m\ndata: ${m.taggedJson}\n\n`);
  // The single-channel forms are what they always were.
  assert.equal(m.frame(), m.forms(false).prepared().frame);
  assert.equal(m.iframe('pw.f'), m.forms(false).iframe('pw.f'));
});
