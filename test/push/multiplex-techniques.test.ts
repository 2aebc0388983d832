import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PushMessage } from '../../src/push/index.js';
import { syncView } from '../../src/push/log.js';
import { metric } from '../hardening/helpers.js';
import { publishNow, startServer, until, type TestServer } from './helpers.js';
import {
  idsByChannel, openMux, openMuxStream, spec, TECHNIQUES, type Cursors, type Tagged, type Technique,
} from './multiplex-clients.js';

let t: TestServer;
before(async () => { t = await startServer({ retention: 20 }); });
after(() => t.stop());

/** Data a script chunk or an SSE line could choke on. */
const awkward = (n: number) => ({ n, text: `</script><script>x</script> \u2028\u2029 line\nbreak ${n}` });

/** What a multiplexed client must see of these published messages: channel, id, event and data. */
function asSeen(messages: readonly PushMessage[]): Tagged[] {
  return messages.map((m) => ({ channel: m.channel, id: m.id, event: m.event, data: m.data }));
}

/** Publishes one message on each channel in turn, `rounds` times: interleaved. */
function interleave(channels: readonly string[], rounds: number, event = 'm'): PushMessage[] {
  const out: PushMessage[] = [];
  for (let r = 0; r < rounds; r++) for (const c of channels) out.push(publishNow(t.server.push, c, event, awkward(r)));
  return out;
}

function sentinels(channels: readonly string[]): PushMessage[] {
  return channels.map((c) => publishNow(t.server.push, c, 'end', null));
}

test('three channels on one connection, publishes interleaved: each message tagged with its channel, once, in publish order, on every technique', async () => {
  await Promise.all(TECHNIQUES.map(async (technique) => {
    const [a, b, c] = ['a', 'b', 'c'].map((x) => `mux3.${technique}.${x}`) as [string, string, string];
    const before = interleave([a, b, c], 2);
    // This technique's own count of subscriptions started (a counter): the open gauge is shared
    // by the five techniques running at once, and the first one subscribed would satisfy them all.
    const started = () => metric(t.server.metrics.render(), `pushwire_subscriptions_total{technique="${technique === 'ws' ? 'websocket' : technique}"}`);
    const startedBefore = started();
    // a and c from 0 (their backlog), b with no cursor (only new messages).
    const sub = openMux(technique, t.base, { [a]: 0, [b]: null, [c]: 0 });
    await sub.ready;
    await until(() => started() >= startedBefore + 3, 3000, `${technique} subscribed`);
    const live = [...interleave([a, b, c], 3), ...interleave([c, a], 1)];
    const ends = sentinels([a, b, c]);
    const seen = await sub.inbox.sentinels([a, b, c]);
    sub.close();
    const expected = asSeen([...before.filter((m) => m.channel !== b), ...live, ...ends]);
    // Every message once, each with its channel, in the order published (backlog merged by publish order too).
    assert.deepEqual(seen, expected, technique);
    assert.deepEqual(idsByChannel(seen), { [a]: [1, 2, 3, 4, 5, 6, 7], [c]: [1, 2, 3, 4, 5, 6, 7], [b]: [3, 4, 5, 6] }, technique);
  }));
  await until(() => t.server.push.stats().connections === 0, 3000, 'every connection released');
});

test('SSE: each event id is the compound cursor of every channel after that event', async () => {
  const [a, b] = ['sse-id.a', 'sse-id.b'];
  t.server.push.publish(a, 'm', 1);
  const sub = openMuxStream(t.base, 'sse', `channels=${a}@0,${b}`);
  await sub.ready;
  t.server.push.publish(b, 'm', 2);
  t.server.push.publish(a, 'm', 3);
  await sub.inbox.until((ms) => ms.length === 3, 'three events');
  sub.close();
  assert.deepEqual(sub.inbox.eventIds, [`${a}@1,${b}@0`, `${a}@1,${b}@1`, `${a}@2,${b}@1`]);
  assert.match(sub.raw(), /^: pushwire 2 channels\nretry: \d+\n\n/);
  assert.ok(sub.raw().includes(`id: ${a}@1,${b}@1\nevent: m\ndata: {"channel":"${b}","id":1,"event":"m","data":2}\n\n`), sub.raw());
});

/** The last id seen of each channel. */
function lastSeen(messages: readonly Tagged[], channels: readonly string[]): Cursors {
  const out: Cursors = {};
  for (const c of channels) out[c] = Math.max(0, ...messages.filter((m) => m.channel === c).map((m) => m.id));
  return out;
}

test('resume from a compound cursor: what was published meanwhile on each channel, exactly once, on every technique (and every pair of them)', async () => {
  const pairs = TECHNIQUES.map((first, i) => [first, TECHNIQUES[(i + 1) % TECHNIQUES.length]!] as const)
    .concat(TECHNIQUES.map((x) => [x, x] as const));
  await Promise.all(pairs.map(async ([first, second]: readonly [Technique, Technique]) => {
    const channels = ['a', 'b', 'c'].map((x) => `resume.${first}.${second}.${x}`);
    interleave(channels, 2);
    const one = openMux(first, t.base, Object.fromEntries(channels.map((c) => [c, 0])));
    await one.ready;
    const firstEnds = sentinels(channels);
    await one.inbox.sentinels(channels);
    one.close();
    const cursors = lastSeen(one.inbox.messages, channels);
    assert.deepEqual(cursors, Object.fromEntries(channels.map((c) => [c, 3])));
    // Published while the client is away; uneven on purpose.
    const away = [...interleave(channels, 2), ...interleave([channels[1]!], 2)];
    const two = openMux(second, t.base, cursors);
    await two.ready;
    const live = interleave(channels.slice().reverse(), 1);
    const ends = sentinels(channels);
    const seen = await two.inbox.sentinels(channels);
    two.close();
    assert.deepEqual(seen, asSeen([...away, ...live, ...ends]), `${first} -> ${second}`);
    assert.equal(firstEnds.length, 3);
  }));
  await until(() => t.server.push.stats().connections === 0, 3000, 'every connection released');
});

test('SSE: a compound Last-Event-ID resumes every channel it names, over the cursors of the URL', async () => {
  const channels = ['lei.a', 'lei.b', 'lei.c'];
  const one = openMuxStream(t.base, 'sse', `channels=${spec(Object.fromEntries(channels.map((c) => [c, 0])))}`);
  await one.ready;
  interleave(channels, 2);
  sentinels(channels);
  await one.inbox.sentinels(channels);
  one.close();
  const lastEventId = one.inbox.eventIds.at(-1)!;
  assert.equal(lastEventId, 'lei.a@3,lei.b@3,lei.c@3');
  const away = interleave(channels, 1);
  // What EventSource does on its own reconnect: the same URL (cursors 0 there), and the header.
  const two = openMuxStream(t.base, 'sse', `channels=${channels.map((c) => `${c}@0`).join(',')}`, { 'Last-Event-ID': lastEventId });
  await two.ready;
  const ends = sentinels(channels);
  assert.deepEqual(await two.inbox.sentinels(channels), asSeen([...away, ...ends]));
  assert.deepEqual(two.inbox.eventIds, ['lei.a@4,lei.b@3,lei.c@3', 'lei.a@4,lei.b@4,lei.c@3', 'lei.a@4,lei.b@4,lei.c@4',
    'lei.a@5,lei.b@4,lei.c@4', 'lei.a@5,lei.b@5,lei.c@4', 'lei.a@5,lei.b@5,lei.c@5']);
  two.close();
  // A header naming only some channels moves only those; channels it names that the URL lacks are not added.
  const three = openMuxStream(t.base, 'sse', `channels=lei.a@4,lei.b`, { 'Last-Event-ID': 'lei.b@3,lei.zzz@0' });
  await three.ready;
  const more = sentinels(['lei.a', 'lei.b']);
  await three.inbox.until((ms) => ms.filter((m) => m.event === 'end').length === 4, 'the sentinels');
  three.close();
  assert.deepEqual(idsByChannel(three.inbox.messages), { 'lei.a': [5, 6], 'lei.b': [4, 5, 6] });
  assert.equal(more.length, 2);
});

test('a gap on one channel only: reported for that channel, the others go on from their cursors, on every technique', async () => {
  await Promise.all(TECHNIQUES.map(async (technique) => {
    const [a, b, c] = ['a', 'b', 'c'].map((x) => `gap.${technique}.${x}`) as [string, string, string];
    t.server.push.publish(a, 'm', 0);
    // Retention is 20: b@0 is below what b keeps.
    for (let i = 0; i < 30; i++) t.server.push.publish(b, 'm', i);
    const retainedA = readBack(a, 0);
    const retainedB = readBack(b, 10);
    assert.deepEqual(retainedB.map((m) => m.id), Array.from({ length: 20 }, (_, i) => i + 11));
    const sub = openMux(technique, t.base, { [a]: 0, [b]: 0, [c]: 0 });
    await sub.ready;
    const live = interleave([a, b, c], 1);
    const ends = sentinels([a, b, c]);
    const seen = await sub.inbox.sentinels([a, b, c]);
    sub.close();
    if (technique === 'poll' || technique === 'longpoll') {
      const polling = sub as ReturnType<typeof openMux> & { gaps: string[]; answers: any[] };
      assert.deepEqual(polling.gaps, [b], technique);
      // The gap is answered at once, with every channel in last and gap.
      assert.deepEqual(polling.answers[0].gap, { [a]: false, [b]: true, [c]: false }, technique);
      assert.deepEqual(polling.answers[0].last, { [a]: 1, [b]: 30, [c]: 0 }, technique);
      // The answer with the gap also holds what b still retains (ids 11 to 30).
      const backlog = [...retainedA, ...retainedB];
      assert.deepEqual(seen, asSeen([...backlog, ...live, ...ends]), technique);
    } else {
      // The streaming techniques: a push:gap naming the channel first, then the rest after L.
      assert.deepEqual(seen[0], { channel: b, id: 30, event: 'push:gap', data: null }, technique);
      assert.deepEqual(seen.slice(1), asSeen([...retainedA, ...live, ...ends]), technique);
    }
  }));
});

/** What the (in-memory) log retains of a channel after `since`. */
function readBack(channel: string, since: number): PushMessage[] {
  return [...syncView(t.server.push.log)!.read(channel, since).messages];
}

test('a long poll of several channels is held until any one of them has news', async () => {
  const [a, b] = ['held.a', 'held.b'];
  // The held count is the server's: with another poll still held (the clients of the test
  // before let go a moment after closing), it would not say that this one is.
  await until(() => t.server.push.stats().connections === 0, 3000, 'a quiet server');
  const sub = openMux('longpoll', t.base, { [a]: null, [b]: null });
  await until(() => t.server.push.stats().heldPolls === 1, 3000, 'the poll held');
  const m = publishNow(t.server.push, b, 'news', 1);
  assert.deepEqual(await sub.inbox.until((ms) => ms.length === 1, 'the news'), asSeen([m]));
  sub.close();
});

test('stats count connections and channel subscriptions apart', async () => {
  const { push } = t.server;
  await until(() => push.stats().connections === 0, 3000, 'a quiet server');
  const cursors = { 'st.a': null, 'st.b': null, 'st.c': null };
  const subs = (['ws', 'sse', 'iframe', 'longpoll'] as const).map((x) => openMux(x, t.base, cursors));
  await until(() => push.stats().connections === 4, 3000, 'four connections');
  assert.deepEqual({ ...push.stats(), channels: 0 }, {
    connections: 4, subscriptions: 12, heldPolls: 1, streams: 2, websockets: 1, local: 0, channels: 0,
  });
  for (const s of subs) s.close();
  await until(() => push.stats().connections === 0 && push.stats().subscriptions === 0, 3000, 'all released');
});
