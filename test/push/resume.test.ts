import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { open, startServer, TECHNIQUES, until, type TestServer } from './helpers.js';

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
    // Each client ends with a sentinel published after the messages under test: by the time
    // it arrives, so has any duplicate of those (each technique delivers in order).
    const a = open(first, t.base, ch, 0);
    await a.inbox.waitFor(3);
    push.publish(ch, 'm', data(4));
    await a.inbox.waitFor(4);
    push.publish(ch, 'sentinel', null);
    const seen = await a.inbox.waitForId(5);
    a.close();
    assert.deepEqual(seen.map((m) => m.id), [1, 2, 3, 4, 5], `${first} before the switch`);
    // Published while the client is away.
    push.publish(ch, 'm', data(6));
    push.publish(ch, 'm', data(7));
    // Second technique from the last id seen: the missed ones, then a live one.
    const b = open(second, t.base, ch, 5);
    await b.ready;
    await b.inbox.waitFor(2);
    push.publish(ch, 'm', data(8));
    await b.inbox.waitFor(3);
    push.publish(ch, 'sentinel', null);
    const got = await b.inbox.waitForId(9);
    b.close();
    assert.deepEqual(got, [...[6, 7, 8].map((id) => ({ id, event: 'm', data: data(id) })), { id: 9, event: 'sentinel', data: null }], `${first} -> ${second}`);
  };
  // Five pairs at a time: each pair has its own channel.
  for (let i = 0; i < pairs.length; i += 5) await Promise.all(pairs.slice(i, i + 5).map(runPair));
  await until(() => push.stats().subscriptions === 0, 3000, 'every subscription released');
});
