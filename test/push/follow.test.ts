import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryChannelLog } from '../../src/push/channel-log.js';
import { follow } from '../../src/push/follow.js';
import { asyncLog, LogUnavailableError, type AsyncChannelLog, type ReadResult, type Subscriber } from '../../src/push/log.js';
import type { PushMessage } from '../../src/push/message.js';
import { prng } from '../protocol/helpers.js';

/** What a target got: message ids as numbers, gaps as 'gap:L'. */
class Recorder implements Subscriber {
  readonly got: (number | string)[] = [];
  readonly channels: string[] = [];
  deliver(message: PushMessage): void {
    this.got.push(message.id);
    this.channels.push(message.channel);
  }
  deliverGap(channel: string, last: number): void {
    this.got.push(`gap:${last}`);
    this.channels.push(channel);
  }
}

/**
 * The memory log with a read that answers only when the test says so: the
 * snapshot is taken when read is called ('early') or when it is released
 * ('late'), the two ways a real read can see the publishes racing with it.
 */
class GatedLog implements AsyncChannelLog {
  readonly inner: AsyncChannelLog;
  private gates: (() => void)[] = [];
  snapshot: 'early' | 'late' = 'early';
  failNext: Error | null = null;

  constructor(readonly memory = new MemoryChannelLog()) {
    this.inner = asyncLog(memory);
  }

  get subscriptionCount() { return this.inner.subscriptionCount; }
  get channelCount() { return this.inner.channelCount; }
  get waiting() { return this.gates.length; }
  publish(channel: string, event: string, data: string) { return this.inner.publish(channel, event, data); }
  last(channel: string) { return this.inner.last(channel); }
  knownLast(channel: string) { return this.inner.knownLast(channel); }
  subscribe(channel: string, s: Subscriber) { this.inner.subscribe(channel, s); }
  unsubscribe(channel: string, s: Subscriber) { this.inner.unsubscribe(channel, s); }
  close() { return this.inner.close(); }

  read(channel: string, since: number): Promise<ReadResult> {
    const early = this.snapshot === 'early' ? this.memory.read(channel, since) : null;
    const fail = this.failNext;
    this.failNext = null;
    return new Promise((resolve, reject) => {
      this.gates.push(() => (fail ? reject(fail) : resolve(early ?? this.memory.read(channel, since))));
    });
  }

  /** Lets the oldest pending read answer. */
  release(): void {
    this.gates.shift()!();
  }
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

for (const snapshot of ['early', 'late'] as const) {
  test(`follow: publishes racing with a slow read (${snapshot} snapshot) arrive once, in order`, async () => {
    const log = new GatedLog();
    log.snapshot = snapshot;
    for (let i = 0; i < 5; i++) log.memory.publish('c', 'e', 'null');
    const target = new Recorder();
    const f = follow(log, 'c', 2, target);
    for (let i = 0; i < 4; i++) log.memory.publish('c', 'e', 'null'); // 6..9, while the read is out
    assert.deepEqual(target.got, [], 'nothing before the backlog');
    log.release();
    assert.deepEqual(await f.ready, { last: snapshot === 'early' ? 5 : 9, gap: false });
    assert.deepEqual(target.got, range(3, 9));
    log.memory.publish('c', 'e', 'null');
    assert.deepEqual(target.got, range(3, 10), 'then live');
    assert.equal(f.cursor, 10);
    f.stop();
    assert.equal(log.subscriptionCount, 0);
  });
}

test('follow: random interleavings of publishes, reads and cursors never lose or double a message', async () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = prng(seed);
    const log = new GatedLog(new MemoryChannelLog({ retention: 50 }));
    log.snapshot = rand() < 0.5 ? 'early' : 'late';
    const before = Math.floor(rand() * 20);
    for (let i = 0; i < before; i++) log.memory.publish('c', 'e', 'null');
    const since = Math.floor(rand() * (before + 1));
    const target = new Recorder();
    const f = follow(log, 'c', since, target);
    const during = Math.floor(rand() * 10);
    for (let i = 0; i < during; i++) {
      await log.publish('c', 'e', 'null');
      if (rand() < 0.3) await new Promise<void>((r) => setImmediate(r));
    }
    log.release();
    await f.ready;
    const after = Math.floor(rand() * 5);
    for (let i = 0; i < after; i++) await log.publish('c', 'e', 'null');
    const total = before + during + after;
    assert.deepEqual(target.got, range(since + 1, total), `seed ${seed}: since ${since}, ${before}+${during}+${after}, ${log.snapshot}`);
    f.stop();
  }
});

test('follow: no cursor means after the last id as read once subscribed, racing publishes included', async () => {
  const memory = new MemoryChannelLog();
  memory.publish('c', 'e', 'null');
  memory.publish('c', 'e', 'null');
  let answer!: () => void;
  // last() answers late, after two more publishes: they are new to this subscriber, or not,
  // according to when the answer was read; either way each comes once.
  const inner = asyncLog(memory);
  const log: AsyncChannelLog = Object.assign(Object.create(inner), {
    last: (channel: string) => new Promise<number>((resolve) => { answer = () => resolve(memory.last(channel)); }),
  });
  const target = new Recorder();
  const f = follow(log, 'c', null, target);
  memory.publish('c', 'e', 'null'); // 3: published after the subscription, before last() ran
  answer(); // last() reads 3
  memory.publish('c', 'e', 'null'); // 4: after
  assert.deepEqual(await f.ready, { last: 3, gap: false });
  memory.publish('c', 'e', 'null');
  assert.deepEqual(target.got, [4, 5]);
  f.stop();
});

test('follow: a cursor above the last id is a gap at L, then delivery continues after L', async () => {
  const log = asyncLog(new MemoryChannelLog());
  await log.publish('c', 'e', 'null');
  await log.publish('c', 'e', 'null');
  const target = new Recorder();
  const f = follow(log, 'c', 40, target);
  assert.deepEqual(await f.ready, { last: 2, gap: true });
  await log.publish('c', 'e', 'null');
  assert.deepEqual(target.got, ['gap:2', 3]);
  assert.deepEqual(target.channels, ['c', 'c']);
  f.stop();
});

test('follow: a cursor below what is retained is a gap at the last id; nothing retained is replayed', async () => {
  const log = asyncLog(new MemoryChannelLog({ retention: 3 }));
  for (let i = 0; i < 10; i++) await log.publish('c', 'e', 'null');
  const target = new Recorder();
  const f = follow(log, 'c', 5, target); // 6 is gone: oldest retained is 8
  assert.deepEqual(await f.ready, { last: 10, gap: true });
  await log.publish('c', 'e', 'null');
  assert.deepEqual(target.got, ['gap:10', 11]);
  const exact = new Recorder();
  const g = follow(log, 'c', 8, exact); // 9.. retained: no gap
  assert.deepEqual(await g.ready, { last: 11, gap: false });
  assert.deepEqual(exact.got, [9, 10, 11]);
  f.stop();
  g.stop();
});

test('follow: stop() while the read is out delivers nothing and leaves no subscription', async () => {
  const log = new GatedLog();
  log.memory.publish('c', 'e', 'null');
  const target = new Recorder();
  const f = follow(log, 'c', 0, target);
  assert.equal(log.subscriptionCount, 1, 'subscribed before the read');
  log.memory.publish('c', 'e', 'null');
  f.stop();
  assert.equal(log.subscriptionCount, 0);
  log.release();
  await f.ready;
  log.memory.publish('c', 'e', 'null');
  assert.deepEqual(target.got, []);
  assert.equal(f.live, false);
});

test('follow: a failed read rejects ready and unsubscribes', async () => {
  const log = new GatedLog();
  log.failNext = new LogUnavailableError('down');
  const target = new Recorder();
  const f = follow(log, 'c', 0, target);
  log.memory.publish('c', 'e', 'null');
  log.release();
  await assert.rejects(f.ready, (err: unknown) => err instanceof LogUnavailableError && err.status === 503);
  assert.equal(log.subscriptionCount, 0);
  log.memory.publish('c', 'e', 'null');
  assert.deepEqual(target.got, []);
});

test('follow: a target that publishes from deliver() during the backlog keeps the order', async () => {
  const memory = new MemoryChannelLog();
  const log = asyncLog(memory);
  for (let i = 0; i < 3; i++) memory.publish('c', 'e', 'null');
  const got: number[] = [];
  const target: Subscriber = {
    deliver(m) {
      got.push(m.id);
      // A reply published synchronously: a synchronous log delivers it to us at once.
      if (m.id === 2) memory.publish('c', 'reply', 'null');
    },
  };
  const f = follow(log, 'c', 0, target);
  await f.ready;
  assert.deepEqual(got, [1, 2, 3, 4]);
  f.stop();
});

test('follow: one target on several channels gets each in order, with its channel', async () => {
  const log = new GatedLog();
  log.memory.publish('a', 'e', 'null');
  log.memory.publish('b', 'e', 'null');
  const target = new Recorder();
  const fa = follow(log, 'a', 0, target);
  const fb = follow(log, 'b', 1, target);
  log.memory.publish('b', 'e', 'null');
  log.memory.publish('a', 'e', 'null');
  log.release();
  log.release();
  await Promise.all([fa.ready, fb.ready]);
  log.memory.publish('a', 'e', 'null');
  const seen = target.got.map((id, i) => `${target.channels[i]}${id}`);
  assert.deepEqual(seen.filter((s) => s.startsWith('a')), ['a1', 'a2', 'a3']);
  assert.deepEqual(seen.filter((s) => s.startsWith('b')), ['b2']);
  fa.stop();
  fb.stop();
  assert.equal(log.subscriptionCount, 0);
});

test('follow: a gap the log reports during the backlog moves the cursor forward only', async () => {
  // A log whose deliveries the test makes by hand: what a shared log does after an outage.
  const subs = new Set<Subscriber>();
  let answer!: (r: ReadResult) => void;
  const fake: AsyncChannelLog = {
    publish: () => Promise.reject(new Error('unused')),
    read: () => new Promise((resolve) => { answer = resolve; }),
    last: () => Promise.resolve(0),
    knownLast: () => 0,
    subscribe: (_c, s) => { subs.add(s); },
    unsubscribe: (_c, s) => { subs.delete(s); },
    subscriptionCount: 0,
    channelCount: 0,
    close: () => Promise.resolve(),
  };
  const { PushMessage } = await import('../../src/push/message.js');
  const msg = (id: number) => new PushMessage('c', id, 'e', 'null');
  const target = new Recorder();
  const f = follow(fake, 'c', 0, target);
  const [sub] = [...subs];
  sub!.deliverGap!('c', 1); // below what the backlog hands over: ignored
  sub!.deliver(msg(3));
  sub!.deliverGap!('c', 7); // above: a gap
  sub!.deliver(msg(8));
  answer({ messages: [msg(1), msg(2), msg(3)], last: 3, gap: false });
  await f.ready;
  sub!.deliver(msg(8)); // a duplicate
  sub!.deliver(msg(9));
  assert.deepEqual(target.got, [1, 2, 3, 'gap:7', 8, 9]);
});

test('asyncLog: resolved promises over the memory log; subscribers are the log\'s own; closed: 503', async () => {
  const memory = new MemoryChannelLog();
  const log = asyncLog(memory);
  const target = new Recorder();
  log.subscribe('c', target);
  assert.equal(memory.subscriptionCount, 1, 'registered with the memory log itself: no wrapper per delivery');
  const p = log.publish('c', 'e', '{"a":1}');
  assert.deepEqual(target.got, [1], 'delivered synchronously, before the promise is awaited');
  assert.equal((await p).json, '{"id":1,"event":"e","data":{"a":1}}');
  assert.equal(await log.last('c'), 1);
  assert.deepEqual((await log.read('c', 0)).messages.map((m) => m.id), [1]);
  log.unsubscribe('c', target);
  assert.equal(log.subscriptionCount, 0);
  await log.close();
  await assert.rejects(log.publish('c', 'e', 'null'), (err: unknown) => err instanceof LogUnavailableError && err.status === 503);
});
