import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { open, sleep, startServer, TECHNIQUES, until, type TestServer } from './helpers.js';

let t: TestServer;
before(async () => { t = await startServer(); });
after(() => t.stop());

// Every ordered pair of techniques, the same one twice included: a client that
// saw id N on one comes back on the other with since=N and gets every later
// message exactly once, in order.
const pairs = TECHNIQUES.flatMap((first) => TECHNIQUES.map((second) => [first, second] as const));

test(`exactly-once resume across all ${pairs.length} pairs of techniques`, async () => {
  const { push } = t.server;
  const data = (id: number) => ({ n: id, text: `message ${id} </script> \u2028` });
  const runPair = async ([first, second]: readonly [typeof TECHNIQUES[number], typeof TECHNIQUES[number]]) => {
    const ch = `resume.${first}.${second}`;
    for (let i = 1; i <= 3; i++) push.publish(ch, 'm', data(i));
    // First technique: the backlog from 0, then one live message.
    const a = open(first, t.base, ch, 0);
    await a.inbox.waitFor(3);
    push.publish(ch, 'm', data(4));
    const seen = await a.inbox.waitFor(4);
    a.close();
    assert.deepEqual(seen.map((m) => m.id), [1, 2, 3, 4], `${first} before the switch`);
    const lastSeen = seen[seen.length - 1]!.id;
    await sleep(20);
    // Published while the client is away.
    push.publish(ch, 'm', data(5));
    push.publish(ch, 'm', data(6));
    // Second technique from the last id seen: the missed ones, then a live one.
    const b = open(second, t.base, ch, lastSeen);
    await b.ready;
    await b.inbox.waitFor(2);
    push.publish(ch, 'm', data(7));
    await b.inbox.waitFor(3);
    await sleep(60); // anything extra (a duplicate) would arrive now
    b.close();
    assert.deepEqual(b.inbox.messages, [5, 6, 7].map((id) => ({ id, event: 'm', data: data(id) })), `${first} -> ${second}`);
  };
  // Five pairs at a time: each pair has its own channel.
  for (let i = 0; i < pairs.length; i += 5) await Promise.all(pairs.slice(i, i + 5).map(runPair));
  await until(() => push.stats().subscriptions === 0, 3000, 'every subscription released');
});
