// ChannelSet on a log whose reads answer later (as a shared log's do): nothing lost or doubled around the read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryChannelLog, type ReadResult, type Subscriber } from '../../src/push/channel-log.js';
import { ChannelSet, type ChannelSink, type Cursor } from '../../src/push/channel-set.js';
import { asyncLog, LogUnavailableError, type AsyncChannelLog } from '../../src/push/log.js';
import type { PushMessage } from '../../src/push/message.js';

/** The memory log, with reads (and last) answered when the test releases them; the snapshot is taken then. */
class SlowLog implements AsyncChannelLog {
  readonly memory = new MemoryChannelLog({ retention: 5 });
  private readonly inner = asyncLog(this.memory);
  private readonly gates: Array<() => void> = [];
  failNext = false;

  get subscriptionCount() { return this.inner.subscriptionCount; }
  get channelCount() { return this.inner.channelCount; }
  get waiting() { return this.gates.length; }
  publish(channel: string, event: string, data: string) { return this.inner.publish(channel, event, data); }
  knownLast(channel: string) { return this.memory.last(channel); }
  subscribe(channel: string, s: Subscriber) { this.inner.subscribe(channel, s); }
  unsubscribe(channel: string, s: Subscriber) { this.inner.unsubscribe(channel, s); }
  close() { return this.inner.close(); }

  read(channel: string, since: number): Promise<ReadResult> {
    return this.gate(() => this.memory.read(channel, since));
  }

  last(channel: string): Promise<number> {
    return this.gate(() => this.memory.last(channel));
  }

  private gate<T>(answer: () => T): Promise<T> {
    const fail = this.failNext;
    this.failNext = false;
    return new Promise((resolve, reject) => {
      this.gates.push(() => (fail ? reject(new LogUnavailableError('Redis is away')) : resolve(answer())));
    });
  }

  releaseAll(): void {
    for (const open of this.gates.splice(0)) open();
  }

  /** Publishes n messages on a channel, now. */
  put(channel: string, n: number): void {
    for (let i = 0; i < n; i++) this.memory.publish(channel, 'e', 'null');
  }
}

/** What reaches the sink: `channel:id`, gaps as `channel:gap:L`. */
class Recorder implements ChannelSink {
  readonly got: string[] = [];
  message(message: PushMessage, cursor: Cursor): void { this.got.push(`${cursor.channel}:${message.id}`); }
  gap(cursor: Cursor): void { this.got.push(`${cursor.channel}:gap:${cursor.last}`); }
}

test('channel set: what is published while the reads are out comes after the backlog, once, in id order', async () => {
  const log = new SlowLog();
  log.put('a', 2);
  log.put('b', 1);
  const sink = new Recorder();
  const set = new ChannelSet(log, sink);
  const added = set.add([{ channel: 'a', since: 0 }, { channel: 'b', since: 1 }, { channel: 'c', since: null }], true);
  log.put('a', 1); // 3: in the read (taken on release) and delivered live meanwhile
  log.put('c', 1); // 1: published after subscribing, before c's last was read: already "old"
  assert.deepEqual(sink.got, [], 'nothing before the reads answer');
  log.releaseAll();
  log.put('b', 1); // 2: after the reads were taken, before they are handed over
  await added;
  log.put('c', 1); // 2: live
  assert.deepEqual(sink.got, ['a:1', 'a:2', 'a:3', 'b:2', 'c:2']);
  assert.deepEqual([...set.list()].map((c) => [c.channel, c.last]), [['a', 3], ['b', 2], ['c', 2]]);
  set.close();
  assert.equal(log.subscriptionCount, 0);
});

test('channel set: a read that fails rejects, drops those channels only, and leaves the set working', async () => {
  const log = new SlowLog();
  const sink = new Recorder();
  const set = new ChannelSet(log, sink);
  const first = set.add([{ channel: 'a', since: 0 }], true);
  log.releaseAll();
  await first;
  log.failNext = true;
  const failing = set.add([{ channel: 'b', since: 0 }], true);
  log.put('b', 1); // held for b while its read is out: dropped with it
  log.releaseAll();
  await assert.rejects(failing, LogUnavailableError);
  assert.equal(set.has('b'), false);
  assert.equal(log.subscriptionCount, 1, 'b unsubscribed, a still there');
  log.put('a', 1);
  assert.deepEqual(sink.got, ['a:1']);
  set.close();
});

test('channel set: closed while the read is out, nothing reaches the sink', async () => {
  const log = new SlowLog();
  log.put('a', 2);
  const sink = new Recorder();
  const set = new ChannelSet(log, sink);
  const added = set.add([{ channel: 'a', since: 0 }], true);
  log.put('a', 1);
  set.close();
  log.releaseAll();
  await added;
  log.put('a', 1);
  assert.deepEqual(sink.got, []);
  assert.equal(log.subscriptionCount, 0);
});

test('channel set: a cursor the log cannot serve is a gap first; a gap the log reports during the read only moves forward', async () => {
  const log = new SlowLog();
  log.put('a', 8); // retention 5: 4..8 kept
  const sink = new Recorder();
  const set = new ChannelSet(log, sink);
  const added = set.add([{ channel: 'a', since: 1 }, { channel: 'b', since: 0 }], true);
  set.deliverGap('a', 6); // below what the read finds: nothing more
  set.deliverGap('b', 3); // b's log lost 1..3 meanwhile
  log.releaseAll();
  await added;
  assert.deepEqual(sink.got, ['a:gap:8', 'b:gap:3']);
  log.put('a', 1);
  assert.deepEqual(sink.got, ['a:gap:8', 'b:gap:3', 'a:9']);
  set.close();
});
