import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MemoryChannelLog, type Subscriber } from '../../src/push/channel-log.js';
import { IdSequence } from '../../src/push/id-sequence.js';
import { PushMessage, scriptSafeJson } from '../../src/push/message.js';
import { tempDir } from './helpers.js';

const ids = (list: readonly PushMessage[]) => list.map((m) => m.id);

test('read by cursor over a ring that wraps many times', () => {
  const log = new MemoryChannelLog({ retention: 7 });
  for (let n = 1; n <= 40; n++) {
    log.publish('c', 'e', String(n));
    const oldest = Math.max(1, n - 6);
    for (let since = 0; since <= n + 1; since++) {
      const r = log.read('c', since);
      const expected = [];
      for (let id = Math.max(since + 1, oldest); id <= n; id++) expected.push(id);
      assert.deepEqual(ids(r.messages), expected, `n=${n} since=${since}`);
      assert.equal(r.last, n);
      assert.equal(r.gap, since > n || since < oldest - 1, `gap n=${n} since=${since}`);
    }
  }
});

test('an unknown channel reads as empty with last 0 and costs no memory', () => {
  const log = new MemoryChannelLog();
  assert.deepEqual(log.read('nothing', 0), { messages: [], last: 0, gap: false });
  assert.equal(log.read('nothing', 1).gap, true);
  assert.equal(log.channelCount, 0);
  const sub: Subscriber = { deliver() {} };
  log.subscribe('nothing', sub);
  assert.equal(log.channelCount, 1);
  assert.equal(log.subscriptionCount, 1);
  log.unsubscribe('nothing', sub);
  assert.equal(log.channelCount, 0, 'no subscribers and nothing retained: dropped');
  assert.equal(log.subscriptionCount, 0);
});

test('subscribers get each message once, in order, and one failing subscriber does not stop the others', () => {
  const log = new MemoryChannelLog();
  const got: number[] = [];
  const broken: Subscriber = { deliver() { throw new Error('boom'); } };
  const good: Subscriber = { deliver(m) { got.push(m.id); } };
  log.subscribe('c', broken);
  log.subscribe('c', good);
  log.subscribe('c', good);
  const error = console.error;
  console.error = () => {};
  try {
    for (let i = 0; i < 3; i++) log.publish('c', 'e', 'null');
  } finally {
    console.error = error;
  }
  assert.deepEqual(got, [1, 2, 3]);
});

test('a message is serialised once; its technique bytes are built once and shared', () => {
  const m = new PushMessage('c', 5, 'count', JSON.stringify({ a: '</script>\u2028' }));
  assert.equal(m.json, '{"id":5,"event":"count","data":{"a":"</script>\u2028"}}');
  assert.deepEqual(m.data, { a: '</script>\u2028' });
  assert.equal(m.frame(), m.frame());
  assert.equal(m.sse(), m.sse());
  assert.equal(m.iframe('f'), m.iframe('f'));
  assert.equal(m.sse().toString(), 'id: 5\nevent: count\ndata: {"a":"</script>\u2028"}\n\n');
  assert.equal(scriptSafeJson('"<\u2028\u2029>"'), '"\\u003c\\u2028\\u2029>"');
  assert.equal(JSON.parse(scriptSafeJson(m.json)).data.a, '</script>\u2028');
});

test('id sequence: blocks reserved durably before use; a restart continues above the last block', () => {
  const dir = tempDir();
  const file = path.join(dir, 'sub', 'channel-ids.json');
  const a = new IdSequence(file, 3);
  assert.equal(a.next('c'), 1);
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')).reserved, { c: 3 });
  a.next('c'); a.next('c');
  assert.equal(a.next('c'), 4);
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')).reserved, { c: 6 });
  const b = new IdSequence(file, 3);
  assert.equal(b.last('c'), 6);
  assert.equal(b.next('c'), 7);
  assert.equal(b.last('other'), 0);
  // Without a file, ids live and die with the process.
  const mem = new IdSequence(null);
  assert.equal(mem.next('c'), 1);
});

test('id sequence: an id is not handed out when its reservation cannot be written', () => {
  const dir = tempDir();
  const file = path.join(dir, 'channel-ids.json');
  fs.mkdirSync(`${file}.tmp`); // the temp file cannot be created
  const seq = new IdSequence(file, 10);
  assert.throws(() => seq.next('c'));
  assert.equal(seq.last('c'), 0);
  fs.rmdirSync(`${file}.tmp`);
  assert.equal(seq.next('c'), 1);
});
