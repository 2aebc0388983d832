import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { MemoryChannelLog } from '../../src/push/channel-log.js';
import { follow } from '../../src/push/follow.js';
import { LogUnavailableError } from '../../src/push/log.js';
import { PUBLISH } from '../../src/push/redis-scripts.js';
import { Collector, next, openLog, range } from './helpers.js';
import { RedisServer, redisSkip } from './redis-server.js';

const skip = redisSkip();

test('two servers on one Redis: concurrent publishes get consecutive ids; subscribers on both get every message once, in order', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  // One "server" with the --redis options, one with ioredis's defaults: the log works with both.
  const a = await openLog(redis.url);
  const b = await openLog(redis.url, { prompt: false });
  try {
    const fa = new Collector('follow on A');
    const fb = new Collector('follow on B');
    const followA = follow(a.log, 'c', 0, fa);
    const followB = follow(b.log, 'c', 0, fb);
    await Promise.all([followA.ready, followB.ready]);
    // Plain subscribers, registered once the feed is established, share it.
    const sa = new Collector('subscriber on A');
    const sb = new Collector('subscriber on B');
    a.log.subscribe('c', sa);
    b.log.subscribe('c', sb);
    assert.equal(a.log.subscriptionCount, 2);

    const n = 300;
    const publishes = [];
    for (let i = 0; i < n; i++) {
      publishes.push(a.log.publish('c', 'from-a', JSON.stringify({ i })));
      publishes.push(b.log.publish('c', 'from-b', JSON.stringify({ i })));
    }
    const published = await Promise.all(publishes);
    assert.deepEqual(published.map((m) => m.id).sort((x, y) => x - y), range(1, 2 * n), 'ids consecutive across both servers');

    for (const c of [fa, fb, sa, sb]) await c.until(2 * n);
    for (const c of [fa, fb, sa, sb]) {
      assert.equal(c.violation, null);
      assert.deepEqual(c.got, range(1, 2 * n), c.name);
    }
    // A message published on A arrives on B as it was sent.
    const byId = new Map(published.map((m) => [m.id, m]));
    for (const m of fb.messages) assert.equal(m.json, byId.get(m.id)!.json);

    for (const log of [a.log, b.log]) {
      const all = await log.read('c', 0);
      assert.deepEqual(all.messages.map((m) => m.id), range(1, 2 * n));
      assert.equal(all.last, 2 * n);
      assert.equal(all.gap, false);
      assert.equal(all.messages[9]!.json, byId.get(10)!.json);
      assert.deepEqual(await log.read('c', 2 * n), { messages: [], last: 2 * n, gap: false });
      assert.equal((await log.read('c', 2 * n + 1)).gap, true);
      assert.equal(await log.last('c'), 2 * n);
      assert.equal(await log.last('never-used'), 0);
    }
    followA.stop();
    followB.stop();
    a.log.unsubscribe('c', sa);
    b.log.unsubscribe('c', sb);
    assert.equal(a.log.subscriptionCount, 0);
    assert.equal(a.log.channelCount, 0);
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});

test('read on either server gives the memory log\'s answers: retention, last and gap verdicts', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  const a = await openLog(redis.url, { retention: 5 });
  const b = await openLog(redis.url, { retention: 5 });
  const memory = new MemoryChannelLog({ retention: 5 });
  try {
    for (let n = 1; n <= 12; n++) {
      await (n % 2 ? a : b).log.publish('c', 'e', String(n));
      memory.publish('c', 'e', String(n));
      for (let since = 0; since <= n + 1; since++) {
        const want = memory.read('c', since);
        for (const log of [a.log, b.log]) {
          const got = await log.read('c', since);
          assert.deepEqual(got.messages.map((m) => m.json), want.messages.map((m) => m.json), `n=${n} since=${since}`);
          assert.equal(got.last, want.last);
          assert.equal(got.gap, want.gap, `gap n=${n} since=${since}`);
        }
      }
    }
    assert.deepEqual(await a.log.read('empty', 0), { messages: [], last: 0, gap: false });
    assert.equal((await a.log.read('empty', 1)).gap, true);
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});

test('follow on one server while the other publishes: backlog, then live, exactly once', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  const a = await openLog(redis.url);
  const b = await openLog(redis.url);
  try {
    for (let i = 0; i < 50; i++) await b.log.publish('c', 'e', 'null');
    // Many followers start at different cursors while B keeps publishing.
    const collectors: Collector[] = [];
    const follows = [];
    const pumping = (async () => {
      for (let i = 0; i < 150; i++) await b.log.publish('c', 'e', 'null');
    })();
    for (let since = 0; since <= 50; since += 5) {
      const c = new Collector(`since ${since}`);
      collectors.push(c);
      follows.push({ since, c, f: follow(a.log, 'c', since, c) });
      await new Promise<void>((r) => setImmediate(r));
    }
    await pumping;
    for (const { since, c, f } of follows) {
      assert.equal((await f.ready).gap, false);
      await c.until(200);
      assert.equal(c.violation, null);
      assert.deepEqual(c.got, range(since + 1, 200), c.name);
      f.stop();
    }
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});

test('pub/sub connections killed while messages flow: the missed messages are read from the stream', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  const a = await openLog(redis.url);
  const b = await openLog(redis.url);
  const admin = new Redis(redis.url);
  try {
    const ca = new Collector('A');
    const cb = new Collector('B');
    const fa = follow(a.log, 'c', 0, ca);
    const fb = follow(b.log, 'c', 0, cb);
    await Promise.all([fa.ready, fb.ready]);
    for (let i = 0; i < 10; i++) await b.log.publish('c', 'e', 'null');
    await ca.until(10);
    // Both servers' subscriber connections dropped; messages published before they are back.
    const backA = next(a.subscriber, 'ready');
    const backB = next(b.subscriber, 'ready');
    assert.equal(await admin.client('KILL', 'TYPE', 'pubsub'), 2);
    for (let i = 0; i < 20; i++) await (i % 2 ? a : b).log.publish('c', 'e', 'null');
    await Promise.all([backA, backB]);
    // Nothing is published after the reconnect: only the resync can bring 11..30.
    await ca.until(30);
    await cb.until(30);
    for (const c of [ca, cb]) {
      assert.equal(c.violation, null);
      assert.deepEqual(c.got, range(1, 30), c.name);
    }
    fa.stop();
    fb.stop();
  } finally {
    admin.disconnect();
    await a.close();
    await b.close();
    await redis.stop();
  }
});

test('a server away longer than the retention hears of the gap, then continues after it', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  const a = await openLog(redis.url, { retention: 5 });
  const b = await openLog(redis.url, { retention: 5 });
  try {
    const ca = new Collector('A');
    const fa = follow(a.log, 'c', 0, ca);
    await fa.ready;
    await b.log.publish('c', 'e', 'null');
    await ca.until(1);
    const ended = next(a.subscriber, 'end');
    a.subscriber.disconnect(); // A hears nothing while B publishes past the retention
    await ended;
    for (let i = 0; i < 20; i++) await b.log.publish('c', 'e', 'null');
    const back = next(a.subscriber, 'ready');
    await a.subscriber.connect();
    await back;
    await ca.until(21);
    await b.log.publish('c', 'e', 'null');
    await ca.until(22);
    assert.deepEqual(ca.got, [1, 'gap:21', 22]);
    fa.stop();
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});

test('Redis stopped and restarted while messages flow: publishes fail with LogUnavailableError, subscribers stay, delivery resumes with nothing lost', { skip, timeout: 60_000 }, async () => {
  // Persistent, as docs/PROTOCOL.md recommends: what was acknowledged survives the restart.
  const redis = await RedisServer.start({ persist: true });
  const a = await openLog(redis.url);
  const b = await openLog(redis.url);
  try {
    const collectors = [new Collector('follow A'), new Collector('follow B'), new Collector('follow A late')];
    const fa = follow(a.log, 'c', 0, collectors[0]!);
    const fb = follow(b.log, 'c', 0, collectors[1]!);
    await Promise.all([fa.ready, fb.ready]);

    // Both servers publish in turn, without pause, until told to stop.
    const ok: number[] = [];
    const failures: unknown[] = [];
    let pumping = true;
    let notify = null as (() => void) | null;
    const pump = (async () => {
      for (let i = 0; pumping; i++) {
        try {
          ok.push((await (i % 2 ? a : b).log.publish('c', 'e', JSON.stringify({ i }))).id);
        } catch (err) {
          failures.push(err);
          await new Promise<void>((r) => setImmediate(r));
        }
        notify?.();
      }
    })();
    const until = async (check: () => boolean) => {
      while (!check()) await new Promise<void>((r) => { notify = r; });
    };

    await until(() => ok.length >= 30);
    const upA = next(a.client, 'ready');
    const upB = next(b.client, 'ready');
    await redis.stop('SIGKILL');
    const okAtStop = ok.length;
    await until(() => failures.length >= 20);
    for (const err of failures) {
      assert.ok(err instanceof LogUnavailableError, `a LogUnavailableError: ${err}`);
      assert.equal(err.status, 503);
    }
    assert.equal(a.log.subscriptionCount, 1, 'subscribers stay registered');
    assert.equal(b.log.subscriptionCount, 1);
    // Subscribing while Redis is away works too; it catches up once Redis is back.
    const fLate = follow(a.log, 'c', 5, collectors[2]!);
    await assert.rejects(fLate.ready, LogUnavailableError);

    await redis.restart();
    await Promise.all([upA, upB]);
    await until(() => ok.length >= okAtStop + 30);
    pumping = false;
    await pump;

    const top = Math.max(...ok);
    await collectors[0]!.until(top);
    await collectors[1]!.until(top);
    for (const c of collectors.slice(0, 2)) {
      assert.equal(c.violation, null);
      // Every acknowledged id is delivered; every id up to the top, once (a publish whose
      // answer was lost with the connection may still have been stored: it is delivered too).
      assert.deepEqual(c.got, range(1, top), c.name);
    }
    const afterward = follow(b.log, 'c', 5, collectors[2]!);
    await afterward.ready;
    await collectors[2]!.until(top);
    assert.deepEqual(collectors[2]!.got, range(6, top), 'a client resuming after the outage misses nothing');
    fa.stop();
    fb.stop();
    afterward.stop();
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});

test('Redis restarted without its data: ids continue above what the servers have seen, and old cursors get a gap', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  const a = await openLog(redis.url);
  const b = await openLog(redis.url);
  try {
    const cb = new Collector('B');
    const fb = follow(b.log, 'c', 0, cb);
    await fb.ready;
    for (let i = 0; i < 5; i++) await a.log.publish('c', 'e', 'null');
    await cb.until(5);
    const up = [next(a.client, 'ready'), next(b.client, 'ready'), next(b.subscriber, 'ready')];
    await redis.stop('SIGKILL');
    await redis.restart(); // empty: nothing was persisted
    await Promise.all(up);
    const m = await a.log.publish('c', 'e', 'null');
    assert.equal(m.id, 6, 'not 1: the counter came back above the highest id A had seen');
    await cb.until(6);
    assert.deepEqual(cb.got, range(1, 6));
    assert.deepEqual((await b.log.read('c', 5)).messages.map((x) => x.id), [6]);
    assert.equal((await b.log.read('c', 5)).gap, false);
    assert.equal((await b.log.read('c', 2)).gap, true, 'messages 3..5 are gone with the data');
    fb.stop();
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});

test('scripts flushed from Redis are loaded again (NOSCRIPT, then EVAL); a closed log refuses', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  const a = await openLog(redis.url);
  const admin = new Redis(redis.url);
  try {
    await a.log.publish('c', 'e', 'null');
    assert.deepEqual(await admin.script('EXISTS', PUBLISH.sha), [1]);
    await admin.script('FLUSH');
    assert.deepEqual(await admin.script('EXISTS', PUBLISH.sha), [0]);
    assert.equal((await a.log.publish('c', 'e', 'null')).id, 2);
    assert.deepEqual(await admin.script('EXISTS', PUBLISH.sha), [1]);
    // Keys and the pub/sub channel as docs/PROTOCOL.md §3.12 describes them.
    assert.equal(await admin.get('pushwire:{c}:id'), '2');
    assert.deepEqual(await admin.xrange('pushwire:{c}:log', '-', '+'), [['1-0', ['e', 'e', 'd', 'null']], ['2-0', ['e', 'e', 'd', 'null']]]);
    await assert.rejects(a.log.publish('bad name', 'e', 'null'), TypeError);
    await assert.rejects(a.log.publish('c', 'two\nlines', 'null'), TypeError);
    await a.log.close();
    await assert.rejects(a.log.publish('c', 'e', 'null'), (err: unknown) => err instanceof LogUnavailableError && err.status === 503);
    assert.equal(a.client.status, 'ready', 'the caller\'s client is left open');
  } finally {
    admin.disconnect();
    await a.close();
    await redis.stop();
  }
});
