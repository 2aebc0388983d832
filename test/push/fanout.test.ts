import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { openPolling, openWs, sleep, startServer, until, type Sub, type TestServer } from './helpers.js';

let t: TestServer;
before(async () => { t = await startServer(); });
after(() => t.stop());

const CLIENTS = 1000;
const PUBLISHES = 100;

// Deadlines here only bound a hung run; they are generous because a 2-core machine under load
// (CI, a benchmark beside the suite) may take many times the usual 10 s. Correctness is
// what each client received, checked once a sentinel published after the others reached it.
test(`${CLIENTS} long-poll clients and ${CLIENTS} WebSocket subscribers each get all ${PUBLISHES} messages, in order, once`, { timeout: 180_000 }, async (tc) => {
  const { push } = t.server;
  const ch = 'fanout';
  const started = Date.now();
  // One keep-alive agent with a socket per client: each long poll re-polls on its own connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS + 10 });
  const subs: Sub[] = [];
  // Connect in batches, so the listen backlog never overflows into SYN retries.
  for (let i = 0; i < CLIENTS; i += 200) {
    const batch = Array.from({ length: 200 }, () => openWs(t.base, ch, 0));
    await Promise.all(batch.map((s) => s.ready));
    subs.push(...batch);
  }
  for (let i = 0; i < CLIENTS; i++) subs.push(openPolling(t.base, 'longpoll', ch, 0, agent));
  await until(() => push.stats().heldPolls === CLIENTS && push.stats().websockets === CLIENTS, 60_000, 'every client subscribed');
  const connected = Date.now();
  let requests = 0;
  const countRequest = () => { requests++; };
  t.server.http.on('request', countRequest);

  // Bursts of 5: each burst wakes every held poll, and messages published
  // while a poller is between two requests reach it with its next one.
  for (let i = 1; i <= PUBLISHES; i++) {
    push.publish(ch, 'n', i);
    if (i % 5 === 0) await sleep(40);
  }
  // A duplicate of any message above would reach a client before this one.
  const sentinel = (await push.publish(ch, 'sentinel', null)).id;
  await Promise.all(subs.map((s) => s.inbox.waitForId(sentinel, 150_000)));
  const delivered = Date.now();
  t.server.http.off('request', countRequest);
  const expected = [
    ...Array.from({ length: PUBLISHES }, (_, i) => ({ id: i + 1, event: 'n', data: i + 1 })),
    { id: sentinel, event: 'sentinel', data: null },
  ];
  for (const [i, s] of subs.entries()) {
    assert.deepEqual(s.inbox.messages, expected, `client ${i} (${i < CLIENTS ? 'ws' : 'longpoll'})`);
  }
  for (const s of subs) s.close();
  agent.destroy();
  await until(() => push.stats().subscriptions === 0, 30_000, 'every subscription released');
  tc.diagnostic(`connect ${connected - started} ms; ${PUBLISHES + 1} publishes to ${2 * CLIENTS} clients delivered in ${delivered - connected} ms; ${requests} long-poll requests`);
});
