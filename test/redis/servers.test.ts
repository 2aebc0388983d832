// Two `node dist/server.js --redis URL` processes on one real redis-server: docs/PROTOCOL.md §3.12.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, tempDataDir, type Started } from '../cli/helpers.js';
import { open, openWs, request, TECHNIQUES, type HttpAnswer, type Sub } from '../push/helpers.js';
import { openMux, openMuxWs, type MuxSub, type Tagged } from '../push/multiplex-clients.js';
import { connectSocket } from '../socketio/helpers.js';
import { RedisServer, redisSkip } from './redis-server.js';

const skip = redisSkip();

/** Every child this file started: none outlives it, whatever failed. */
const children = new Set<Started>();
after(async () => {
  for (const s of children) s.child.kill('SIGKILL');
});

async function serve(redis: RedisServer): Promise<Started & { base: string }> {
  const s = await startServer(['--port', '0', '--data-dir', tempDataDir(), '--redis', redis.url]);
  children.add(s);
  return { ...s, base: `http://127.0.0.1:${s.port}` };
}

async function stop(s: Started): Promise<void> {
  s.child.kill('SIGTERM');
  const { code } = await s.exited;
  children.delete(s);
  assert.equal(code, 0, s.stderr());
}

/** A chat message through POST /push/emit: its status (202 once published, 503 when the log is away). */
async function chat(base: string, text: string): Promise<number> {
  const r = await request(`${base}/push/emit`, { method: 'POST', body: JSON.stringify({ event: 'chat message', data: text }), headers: { 'Content-Type': 'application/json' } });
  if (r.status !== 202) assert.equal(typeof r.json?.error, 'string', `a JSON error: ${r.body}`);
  return r.status;
}

async function register(base: string, name: string): Promise<HttpAnswer> {
  return request(`${base}/api/registrations`, { method: 'POST', body: JSON.stringify({ name }), headers: { 'Content-Type': 'application/json' } });
}

/** The messages of a single-channel subscription as `id:data`. */
const seen = (sub: Sub) => sub.inbox.messages.map((m) => `${m.id}:${String(m.data)}`);

/**
 * A long-poll client that sends each request to the next server in turn,
 * with the last id it has, and tries again after a 503 or a refused
 * connection: a client behind a load balancer with no sticky sessions.
 */
function roamingLongPoll(bases: string[], channel: string) {
  const state = { messages: [] as { id: number; data: unknown }[], requests: [0, 0], errors: 0, cursor: 0, stopped: false };
  const waiters: Array<() => void> = [];
  const once = (base: string) => new Promise<any>((resolve, reject) => {
    const req = http.get(`${base}/push/longpoll?channel=${channel}&since=${state.cursor}&timeout=5000`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`HTTP ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
  });
  const done = (async () => {
    for (let i = 0; !state.stopped; i++) {
      const which = i % bases.length;
      let answer;
      try {
        state.requests[which]!++;
        answer = await once(bases[which]!);
      } catch {
        state.errors++;
        // Paces retries while a server or Redis is away; nothing is counted by time.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      for (const m of answer.messages) {
        state.messages.push(m);
        state.cursor = m.id;
      }
      for (const wake of waiters.splice(0)) wake();
    }
  })();
  return {
    state,
    done,
    /** Resolves once a message with this data has come. */
    async waitForData(data: string): Promise<void> {
      while (!state.messages.some((m) => m.data === data)) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    stop() { state.stopped = true; },
  };
}

test('two servers on one Redis: every technique on A, multiplexed too, gets what B and A publish, in order, exactly once', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  try {
    const [a, b] = await Promise.all([serve(redis), serve(redis)]);
    const subs = TECHNIQUES.map((technique) => open(technique, a.base, 'chat', 0));
    const onB = open('sse', b.base, 'chat', 0);
    const mux: MuxSub[] = [openMux('ws', a.base, { chat: 0, registrations: 0 }), openMux('sse', a.base, { chat: 0, registrations: 0 })];
    // (A multiplexed long poll is ready once answered: it joins the others without waiting.)
    mux.push(openMux('longpoll', a.base, { chat: 0, registrations: 0 }));
    await Promise.all([...subs, onB, mux[0]!, mux[1]!].map((s) => s.ready));
    // The Socket.IO chat on B: room chat is channel chat of the shared log.
    const sio = await connectSocket(b.base, { transports: ['websocket'] });
    const sioSeen: string[] = [];
    const sioEnd = new Promise<void>((resolve) => sio.on('chat message', (text: string) => {
      sioSeen.push(text);
      if (text === 'end') resolve();
    }));

    const published: string[] = [];
    for (let i = 1; i <= 10; i++) {
      const [server, name] = i % 2 === 1 ? [b, 'B'] : [a, 'A'];
      published.push(`${name}${i}`);
      assert.equal(await chat(server.base, `${name}${i}`), 202);
    }
    assert.equal((await register(b.base, 'Ada')).status, 201);
    assert.equal((await register(a.base, 'Bob')).status, 201);
    published.push('end');
    assert.equal(await chat(b.base, 'end'), 202);

    const expected = published.map((text, i) => `${i + 1}:${text}`);
    for (const [i, sub] of [...subs, onB].entries()) {
      await sub.inbox.waitForId(11, 10_000);
      assert.deepEqual(seen(sub), expected, [...TECHNIQUES, 'sse on B'][i]);
    }
    for (const sub of mux) {
      await sub.inbox.until((ms) => ms.some((m) => m.channel === 'chat' && m.id === 11) && ms.some((m) => m.channel === 'registrations' && m.id === 2), 'both channels', 10_000);
      const chatSeen = sub.inbox.of('chat').map((m: Tagged) => `${m.id}:${String(m.data)}`);
      assert.deepEqual(chatSeen, expected);
      // The demo's registration store is per process: each server counts its own, on one channel with one sequence of ids.
      assert.deepEqual(sub.inbox.of('registrations').map((m: Tagged) => [m.id, m.event, m.data]), [[1, 'count', { count: 1, capacity: 100 }], [2, 'count', { count: 1, capacity: 100 }]]);
    }
    await sioEnd;
    assert.deepEqual(sioSeen, published, 'Socket.IO on B');
    sio.disconnect();
    // Any server answers any cursor.
    for (const s of [a, b]) {
      const r = await request(`${s.base}/push/poll?channel=chat&since=9`);
      assert.deepEqual(r.json, { messages: [{ id: 10, event: 'chat message', data: 'A10' }, { id: 11, event: 'chat message', data: 'end' }], last: 11, gap: false });
      assert.equal((await request(`${s.base}/api/registrations`)).json.last, 2);
    }
    for (const sub of [...subs, onB, ...mux]) sub.close();
    await Promise.all([stop(a), stop(b)]);
  } finally {
    await redis.stop();
  }
});

test('two servers, concurrent publishing on both: ids consecutive; a long-poll client alternating between A and B misses nothing', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  try {
    const [a, b] = await Promise.all([serve(redis), serve(redis)]);
    const poller = roamingLongPoll([a.base, b.base], 'chat');
    const PER_SERVER = 40;
    // Each server's publisher runs 4 requests at a time; both run at once.
    const publish = async (s: typeof a, name: string) => {
      const texts = Array.from({ length: PER_SERVER }, (_, i) => `${name}${i}`);
      for (let i = 0; i < texts.length; i += 4) {
        const statuses = await Promise.all(texts.slice(i, i + 4).map((text) => chat(s.base, text)));
        assert.deepEqual(statuses, [202, 202, 202, 202]);
      }
    };
    await Promise.all([publish(a, 'A'), publish(b, 'B')]);
    assert.equal(await chat(a.base, 'end'), 202);
    await poller.waitForData('end');
    poller.stop();

    const all = (await request(`${b.base}/push/poll?channel=chat&since=0`)).json;
    const ids = all.messages.map((m: { id: number }) => m.id);
    assert.deepEqual(ids, Array.from({ length: 2 * PER_SERVER + 1 }, (_, i) => i + 1), 'consecutive, no id twice, none skipped');
    const texts = all.messages.map((m: { data: string }) => m.data);
    assert.equal(new Set(texts).size, texts.length, 'every message once');
    assert.deepEqual(poller.state.messages, all.messages.map((m: { id: number; data: unknown }) => ({ id: m.id, event: 'chat message', data: m.data })), 'the roaming poller got every message, in order, once');
    assert.ok(poller.state.requests[0]! > 1 && poller.state.requests[1]! > 1, `it asked both servers: ${poller.state.requests}`);
    assert.equal(poller.state.errors, 0);
    await Promise.all([stop(a), stop(b)]);
  } finally {
    await redis.stop();
  }
});

test('Redis stopped and restarted while messages flow: 503 meanwhile, subscribers stay connected, nothing acknowledged is lost', { skip, timeout: 30_000 }, async () => {
  // Every write is on disk before Redis answers it: what was acknowledged survives the crash.
  const redis = await RedisServer.start({ persist: true });
  // Stopped however the test ends: a poller or publisher left running would keep the file alive.
  let flowing = true;
  const clients: Array<{ close(): void }> = [];
  try {
    const [a, b] = await Promise.all([serve(redis), serve(redis)]);
    const sse = open('sse', a.base, 'chat', 0);
    const ws = open('ws', a.base, 'chat', 0);
    const muxWs = openMuxWs(a.base, 'channels=chat@0');
    const sender = openMuxWs(b.base, '');
    clients.push(sse, ws, muxWs, sender);
    await Promise.all([sse.ready, ws.ready, muxWs.ready, sender.ready]);
    const poller = roamingLongPoll([a.base, b.base], 'chat');
    clients.push({ close: () => poller.stop() });

    // Publishers on both servers, each sending one message after another.
    const acknowledged: string[] = [];
    const refused: string[] = [];
    const publisher = async (s: typeof a, name: string) => {
      for (let i = 0; flowing; i++) {
        const text = `${name}${i}`;
        const status = await chat(s.base, text);
        if (status === 202) acknowledged.push(text);
        else {
          assert.equal(status, 503);
          refused.push(text);
          await new Promise((resolve) => setTimeout(resolve, 20)); // pacing while Redis is away
        }
      }
    };
    const running = [publisher(a, 'A'), publisher(b, 'B')];
    // Waits, bounded so that a hung run ends (and its finally stops everything).
    const waitUntil = async (check: () => boolean, what: string) => {
      const deadline = Date.now() + 15_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const ackedAtLeast = (n: number) => waitUntil(() => acknowledged.length >= n, `${n} acknowledged`);
    const refusedAtLeast = (n: number) => waitUntil(() => refused.length >= n, `${n} refused`);

    await ackedAtLeast(20);
    await redis.stop('SIGKILL');
    await refusedAtLeast(4); // the error path, on both servers' publishes
    // New subscriptions cannot read the log: a JSON 503 before any head, or close 1013 (try again later).
    for (const path of ['/push/poll?channel=chat&since=0', '/push/sse?channel=chat&since=0', '/push/iframe?channel=chat&since=0&callback=f', '/push/longpoll?channel=chat']) {
      const r = await request(`${a.base}${path}`);
      assert.equal(r.status, 503, `${path}: ${r.body}`);
      assert.match(r.json.error, /Redis/, path);
    }
    const late = openWs(a.base, 'chat', 0);
    assert.equal((await late.closed).code, 1013);
    // A registration is durable before it is published: answered 201, and counted, while Redis is away.
    const registered = await register(b.base, 'Ada');
    assert.equal(registered.status, 201, registered.body);
    assert.deepEqual(registered.json, { count: 1, capacity: 100 });
    assert.equal((await request(`${b.base}/api/registrations`)).json.count, 1);
    // A WebSocket event whose publish fails: the sender hears why, and stays connected.
    sender.send('chat message', 'over the socket');
    const notice = await sender.inbox.until((ms) => ms.length > 0, 'a push:error') as unknown as { event: string; data: { event: string; error: string } }[];
    assert.equal(notice[0]!.event, 'push:error');
    assert.equal(notice[0]!.data.event, 'chat message');
    assert.match(notice[0]!.data.error, /Redis/);

    const before = acknowledged.length;
    await redis.restart();
    // Each server back on Redis (they reconnect each at its own pace): 10 acknowledged from each.
    const ackedBy = (name: string) => acknowledged.slice(before).filter((text) => text.startsWith(name)).length;
    await waitUntil(() => ackedBy('A') >= 10 && ackedBy('B') >= 10, 'both servers publishing again');
    flowing = false;
    await Promise.all(running);
    assert.equal(await chat(a.base, 'end'), 202);
    acknowledged.push('end');

    await poller.waitForData('end');
    for (const [name, sub] of [['sse', sse], ['ws', ws]] as const) {
      await waitForText(sub, 'end');
      assertNothingLost(name, sub.inbox.messages, acknowledged, refused);
    }
    await muxWs.inbox.until((ms) => ms.some((m) => m.data === 'end'), 'end on the multiplexed socket', 10_000);
    assertNothingLost('multiplexed ws', muxWs.inbox.messages, acknowledged, refused);
    poller.stop();
    assertNothingLost('roaming long poll', poller.state.messages, acknowledged, refused);
    assert.ok(poller.state.errors > 0, 'the poller met the outage and resumed by id');
    // The count the outage held back reaches the channel once Redis is back (a long poll waits for it).
    const counts = (await request(`${a.base}/push/longpoll?channel=registrations&since=0&timeout=10000`)).json;
    assert.deepEqual(counts.messages.map((m: { data: unknown }) => m.data), [{ count: 1, capacity: 100 }]);

    await Promise.all([stop(a), stop(b)]);
  } finally {
    flowing = false;
    for (const client of clients) client.close();
    await redis.stop();
  }
});

async function waitForText(sub: Sub, text: string): Promise<void> {
  await sub.inbox.waitFor(1, 10_000);
  while (!sub.inbox.messages.some((m) => m.data === text)) {
    await sub.inbox.waitFor(sub.inbox.messages.length + 1, 10_000);
  }
}

/**
 * Ids consecutive from 1 (nothing skipped, nothing twice), every acknowledged
 * message there, and nothing else but a publish that failed on its way back
 * (applied by Redis just before it went away).
 */
function assertNothingLost(name: string, messages: readonly { id: number; data: unknown }[], acknowledged: string[], refused: string[]): void {
  assert.deepEqual(messages.map((m) => m.id), messages.map((_, i) => i + 1), `${name}: ids consecutive, once each`);
  const texts = messages.map((m) => String(m.data));
  const got = new Set(texts);
  for (const text of acknowledged) assert.ok(got.has(text), `${name}: acknowledged ${text} was lost`);
  const extra = texts.filter((t) => !acknowledged.includes(t));
  for (const text of extra) assert.ok(refused.includes(text), `${name}: ${text} was never published`);
  assert.ok(extra.length <= 2, `${name}: ${extra.length} refused publishes applied`);
}
