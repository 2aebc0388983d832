import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelFeed } from '../../src/push/channel-feed.js';
import type { Subscriber } from '../../src/push/channel-log.js';
import { PushMessage } from '../../src/push/message.js';
import { prng } from '../protocol/helpers.js';

/** A store whose fetches answer only when the test says so (or fail). */
class Store {
  messages: PushMessage[] = [];
  retention = Infinity;
  readonly fetches: { after: number; answer: () => void; fail: (err: Error) => void }[] = [];
  errors: Error[] = [];

  add(): PushMessage {
    const m = new PushMessage('c', this.last + 1, 'e', 'null');
    this.messages.push(m);
    if (this.messages.length > this.retention) this.messages.shift();
    return m;
  }

  get last(): number {
    return this.messages.length === 0 ? 0 : this.messages[this.messages.length - 1]!.id;
  }

  readonly fetchAfter = (_channel: string, after: number) =>
    new Promise<{ messages: readonly PushMessage[]; last: number }>((resolve, reject) => {
      this.fetches.push({
        after,
        // The store is read when the answer is given, as Redis reads it when the command runs.
        answer: () => resolve({ messages: this.messages.filter((m) => m.id > after), last: this.last }),
        fail: reject,
      });
    });

  /** Answers the oldest fetch and lets its continuation run. */
  async answer(): Promise<void> {
    this.fetches.shift()!.answer();
    await new Promise<void>((r) => setImmediate(r));
  }

  async fail(): Promise<void> {
    this.fetches.shift()!.fail(new Error('down'));
    await new Promise<void>((r) => setImmediate(r));
  }

  feed(): ChannelFeed {
    return new ChannelFeed('c', this.fetchAfter, (err) => this.errors.push(err));
  }
}

class Ids implements Subscriber {
  got: (number | string)[] = [];
  deliver(m: PushMessage) { this.got.push(m.id); }
  deliverGap(_c: string, last: number) { this.got.push(`gap:${last}`); }
}

const copy = (m: PushMessage) => new PushMessage(m.channel, m.id, m.event, m.dataJson);

test('feed: starts after the baseline or the first message; pub/sub and own publishes in any order are delivered once, in order', async () => {
  const store = new Store();
  store.add(); store.add();
  const feed = store.feed();
  const ids = new Ids();
  feed.subscribers.add(ids);
  const m3 = store.add();
  feed.received(copy(m3)); // before the baseline is known: held
  assert.deepEqual(ids.got, []);
  await store.answer(); // the store says 3, but 3 came after the subscriber: owed to it
  assert.deepEqual(ids.got, [3]);
  const m4 = store.add();
  const m5 = store.add();
  feed.published(m5); // own publish, ahead of 4: held
  assert.deepEqual(ids.got, [3]);
  assert.equal(store.fetches.length, 0, 'no fetch for an own publish ahead of pub/sub');
  feed.received(copy(m4));
  feed.received(copy(m5));
  assert.deepEqual(ids.got, [3, 4, 5]);
});

test('feed: a hole in pub/sub is filled from the store; what the store lost becomes a gap at its last id', async () => {
  const store = new Store();
  store.retention = 3;
  const feed = store.feed();
  const ids = new Ids();
  feed.subscribers.add(ids);
  await store.answer(); // baseline 0
  feed.received(copy(store.add()));
  store.add(); store.add(); // 2, 3 lost on the way
  feed.received(copy(store.add())); // 4: a hole
  assert.deepEqual(ids.got, [1]);
  assert.equal(store.fetches[0]!.after, 1);
  await store.answer();
  assert.deepEqual(ids.got, [1, 2, 3, 4]);
  for (let i = 0; i < 5; i++) store.add(); // 5..9, the store keeps 7..9
  feed.resync(); // the connection came back
  await store.answer();
  assert.deepEqual(ids.got, [1, 2, 3, 4, 'gap:9']);
  feed.received(copy(store.add()));
  assert.deepEqual(ids.got, [1, 2, 3, 4, 'gap:9', 10]);
});

test('feed: a read\'s last id sets a missing baseline; the late baseline fetch is then no gap', async () => {
  const store = new Store();
  store.add();
  const feed = store.feed(); // baseline fetch out
  const ids = new Ids();
  feed.subscribers.add(ids);
  feed.seen(1); // a read answered first
  store.add();
  await store.answer(); // the baseline fetch: last 2, no messages asked for
  assert.deepEqual(ids.got, [], 'no gap for a baseline fetch');
  assert.equal(store.fetches[0]?.after, 1, 'the target rose: 2 is fetched');
  await store.answer();
  assert.deepEqual(ids.got, [2]);
});

test('feed: a failed fetch is reported and tried again on resync; nothing is lost', async () => {
  const store = new Store();
  const feed = store.feed();
  const ids = new Ids();
  feed.subscribers.add(ids);
  await store.fail();
  assert.equal(store.errors.length, 1);
  const m1 = store.add();
  feed.received(copy(m1)); // held: no baseline yet
  feed.resync();
  await store.answer(); // the store's last is 1, but 1 came after the first subscriber: delivered
  assert.deepEqual(ids.got, [1]);
  feed.received(copy(store.add()));
  store.add();
  feed.received(copy(store.add())); // 4, hole at 3
  await store.fail();
  assert.deepEqual(ids.got, [1, 2]);
  feed.resync();
  await store.answer();
  assert.deepEqual(ids.got, [1, 2, 3, 4]);
});

test('feed: random losses, duplicates and own publishes never reorder, double or skip a retained message', async () => {
  for (let seed = 1; seed <= 100; seed++) {
    const rand = prng(seed);
    const store = new Store();
    const feed = store.feed();
    const ids = new Ids();
    feed.subscribers.add(ids);
    await store.answer();
    for (let i = 0; i < 60; i++) {
      const m = store.add();
      const r = rand();
      if (r < 0.3) feed.published(m);
      if (r < 0.8) feed.received(copy(m)); // else lost on pub/sub
      if (rand() < 0.2) feed.received(copy(m)); // a duplicate
      while (store.fetches.length > 0 && rand() < 0.5) await store.answer();
    }
    feed.resync();
    while (store.fetches.length > 0) await store.answer();
    assert.deepEqual(ids.got, Array.from({ length: 60 }, (_, i) => i + 1), `seed ${seed}`);
  }
});
