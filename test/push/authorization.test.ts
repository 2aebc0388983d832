/**
 * The authorization hook on every technique (docs/PROTOCOL.md §6.4): a
 * refused connection, subscription or event gets 403 `{"error"}` (close 1008
 * in band) and nothing of its channel, not even its backlog; an allowed one
 * everything. Verdicts given at once and by promise alike.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Forbidden, type PushAuthorizer, type PushRequest } from '../../src/push/index.js';
import { connect } from '../../src/websocket/client.js';
import type { WebSocket } from '../../src/websocket/websocket.js';
import { metric, openUpgrade, scrape } from '../hardening/helpers.js';
import { request, startServer, type TestServer } from './helpers.js';

type Technique = 'poll' | 'longpoll' | 'sse' | 'iframe' | 'ws';
const TECHNIQUES: Technique[] = ['poll', 'longpoll', 'sse', 'iframe', 'ws'];
interface Msg { channel?: string; id: number; event: string; data: unknown }

/** Verdicts on `held:` channels, given by the test when it chooses. */
const verdicts: Array<(allowed: boolean) => void> = [];
const later = <T>(value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), 15));

/** alice may read `secret` (judged at once) and `slow:secret` (judged by promise); a banned cookie may not connect. */
const authorize: PushAuthorizer = {
  connection(request: PushRequest) {
    if (request.cookies.banned === '1') return false;
    request.data.user = request.cookies.user ?? request.url.searchParams.get('user');
    if (request.url.searchParams.get('explode') === '1') throw new Error('the hook itself failed');
    return true;
  },
  subscribe(request: PushRequest, channel: string) {
    if (channel === 'secret') {
      if (request.data.user === 'alice') return true;
      throw new Forbidden(`only alice may read ${channel}`);
    }
    if (channel.startsWith('slow:')) return later(request.data.user === 'alice');
    if (channel.startsWith('later:')) return later(true);
    if (channel.startsWith('held:')) return new Promise<boolean>((resolve) => verdicts.push(resolve));
    return true;
  },
  emit(request: PushRequest, event: string) {
    if (event === 'shout') return request.data.user === 'alice';
    if (event === 'slow shout') return later(request.data.user === 'alice');
    return true;
  },
};

let s: TestServer;
const shouts: unknown[] = [];
const shouters: unknown[] = [];
before(async () => {
  s = await startServer({ authorize });
  // A handler knows who sent the event: what the connection hook put in request.data.
  s.server.push.on('shout', (data, client) => void (shouts.push(data), shouters.push(client.request.data.user)));
  s.server.push.on('slow shout', (data, client) => void (shouts.push(data), shouters.push(client.request.data.user)));
  for (const channel of ['secret', 'slow:secret', 'public']) {
    await s.server.push.publish(channel, 'note', { text: `classified ${channel} 1` });
    await s.server.push.publish(channel, 'note', { text: `classified ${channel} 2` });
  }
});
after(() => s.stop());

const PATHS: Record<Technique, string> = { poll: 'poll', longpoll: 'longpoll', sse: 'sse', iframe: 'iframe', ws: 'ws' };

function url(t: Technique, query: string): string {
  return `/push/${PATHS[t]}?${query}${t === 'iframe' ? '&callback=f' : ''}${t === 'longpoll' ? '&timeout=2000' : ''}`;
}

interface Outcome { status: number; body: string; messages: Msg[] }

/**
 * One subscription: for the streaming techniques, once the head (or the
 * upgrade) is in, a sentinel `end` is published on `sentinel` and awaited,
 * so that everything the server sent before it has arrived.
 */
async function attempt(t: Technique, query: string, headers: Record<string, string> = {}, sentinel = 'public'): Promise<Outcome> {
  if (t === 'ws') {
    const first = await openUpgrade(s.port, url(t, query), undefined, headers);
    if (first.status !== 101) {
      await first.closed;
      const text = first.text();
      return { status: first.status, body: text.slice(text.indexOf('\r\n\r\n') + 4), messages: [] };
    }
    first.socket.destroy();
    const ws = connect(`ws://127.0.0.1:${s.port}${url(t, query)}`, { headers });
    const messages: Msg[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => void s.server.push.publish(sentinel, 'end', null));
      ws.on('message', (data: Buffer) => {
        const m = JSON.parse(data.toString()) as Msg;
        messages.push(m);
        if (m.event === 'end') resolve();
      });
      ws.on('close', () => reject(new Error('closed')));
      ws.on('error', reject);
    });
    ws.terminate();
    return { status: 101, body: '', messages };
  }
  if (t === 'poll' || t === 'longpoll') {
    const answer = await request(`${s.base}${url(t, query)}`, { headers });
    return { status: answer.status, body: answer.body, messages: answer.status === 200 ? answer.json.messages : [] };
  }
  return new Promise((resolve, reject) => {
    const req = http.get(`${s.base}${url(t, query)}`, { headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      if (res.statusCode === 200) void s.server.push.publish(sentinel, 'end', null);
      res.on('data', (chunk: string) => {
        text += chunk;
        if (res.statusCode === 200 && /"event":"end"|event: end/.test(text)) {
          req.destroy();
          resolve({ status: 200, body: text, messages: parseMessages(t, text) });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, body: text, messages: [] }));
    });
    req.on('error', reject);
  });
}

function parseMessages(t: Technique, text: string): Msg[] {
  if (t === 'iframe') return [...text.matchAll(/<script>_\(\)&&parent\.f\((.*?)\)<\/script>/g)].map((m) => JSON.parse(m[1]!) as Msg);
  return [...text.matchAll(/^id: (\d+)\nevent: (.*)\ndata: (.*)$/gm)].map((m) => ({ id: Number(m[1]), event: m[2]!, data: JSON.parse(m[3]!) }));
}

function assertRefused(outcome: Outcome, what: string): void {
  assert.equal(outcome.status, 403, `${what}: ${outcome.body.slice(0, 200)}`);
  assert.equal(typeof JSON.parse(outcome.body).error, 'string', `${what}: JSON error`);
  assert.doesNotMatch(outcome.body, /classified/, `${what}: nothing of the channel`);
}

for (const t of TECHNIQUES) {
  test(`${t}: a refused subscription gets 403 and nothing of the channel, sync and async verdicts alike`, async () => {
    for (const channel of ['secret', 'slow:secret']) {
      assertRefused(await attempt(t, `channel=${channel}&since=0`), `${t} ${channel} anonymous`);
      assertRefused(await attempt(t, `channel=${channel}&since=0&user=bob`), `${t} ${channel} bob`);
      // One refused channel refuses the whole multiplexed request.
      assertRefused(await attempt(t, `channels=public@0,${channel}@0&user=bob`), `${t} public+${channel}`);
    }
    // The connection hook: a banned cookie gets nowhere, not even on a public channel.
    assertRefused(await attempt(t, 'channel=public&since=0', { Cookie: 'banned=1; user=alice' }), `${t} banned`);
  });

  test(`${t}: an allowed subscription gets the backlog and live messages, sync and async verdicts alike`, async () => {
    for (const channel of ['secret', 'slow:secret']) {
      const outcome = await attempt(t, `channel=${channel}&since=0`, { Cookie: 'user=alice' }, channel);
      assert.equal(outcome.status, t === 'ws' ? 101 : 200, outcome.body.slice(0, 200));
      const notes = outcome.messages.filter((m) => m.event === 'note').map((m) => (m.data as { text: string }).text);
      assert.deepEqual(notes, [`classified ${channel} 1`, `classified ${channel} 2`], `${t} ${channel}`);
      if (t !== 'poll' && t !== 'longpoll') assert.equal(outcome.messages.at(-1)!.event, 'end', 'then live');
    }
  });
}

test('a held long poll admitted by a promise gets the message published after', async () => {
  const last = await s.server.push.last('slow:secret');
  const pending = request(`${s.base}/push/longpoll?channel=slow:secret&since=${last}&timeout=5000`, { headers: { Cookie: 'user=alice' } });
  await until(() => s.server.push.stats().heldPolls === 1);
  const message = await s.server.push.publish('slow:secret', 'note', { text: 'live' });
  const answer = await pending;
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.json.messages.map((m: Msg) => m.id), [message.id]);
});

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A /push/ws connection whose frames are collected, with its close. */
function openWs(query: string, headers: Record<string, string> = {}): { ws: WebSocket; messages: Msg[]; open: Promise<void>; closed: Promise<{ code: number; reason: string }> } {
  const ws = connect(`ws://127.0.0.1:${s.port}/push/ws?${query}`, { headers });
  const messages: Msg[] = [];
  ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString()) as Msg));
  ws.on('error', () => {});
  const open = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  return { ws, messages, open, closed };
}

const subscribe = (channel: string, since?: number) => JSON.stringify({ event: 'push:subscribe', data: since === undefined ? { channel } : { channel, since } });

test('in-band push:subscribe refused: close 1008, nothing of the channel before it', async () => {
  for (const channel of ['secret', 'slow:secret']) {
    const c = openWs('user=bob');
    await c.open;
    c.ws.send(subscribe(channel, 0));
    const { code, reason } = await c.closed;
    assert.equal(code, 1008, reason);
    assert.deepEqual(c.messages.filter((m) => m.channel === channel), [], `nothing of ${channel}`);
  }
});

test('in-band push:subscribe allowed by a promise: backlog then live; one dropped while judged adds nothing', async () => {
  const c = openWs('channels=public&user=alice');
  await c.open;
  c.ws.send(subscribe('slow:secret', 0));
  // Asked and dropped before the verdict: the verdict adds nothing.
  c.ws.send(subscribe('slow:other', 0));
  c.ws.send(JSON.stringify({ event: 'push:unsubscribe', data: { channel: 'slow:other' } }));
  await s.server.push.publish('slow:other', 'note', { text: 'not for you' });
  await until(() => c.messages.some((m) => m.channel === 'slow:secret'));
  const live = await s.server.push.publish('slow:secret', 'end', null);
  await until(() => c.messages.some((m) => m.id === live.id && m.channel === 'slow:secret'));
  // A channel asked for after the dropped one: its verdict comes after the dropped one's.
  const marker = await s.server.push.publish('slow:marker', 'note', null);
  c.ws.send(subscribe('slow:marker', 0));
  await until(() => c.messages.some((m) => m.channel === 'slow:marker' && m.id === marker.id));
  await s.server.push.publish('slow:other', 'note', { text: 'not for you either' });
  const sentinel = await s.server.push.publish('public', 'end', null);
  await until(() => c.messages.some((m) => m.channel === 'public' && m.id === sentinel.id));
  const secret = c.messages.filter((m) => m.channel === 'slow:secret');
  // Everything the channel retains, from id 1 to the live one, once each.
  assert.deepEqual(secret.map((m) => m.id), Array.from({ length: live.id }, (_, i) => i + 1));
  assert.deepEqual(c.messages.filter((m) => m.channel === 'slow:other'), []);
  c.ws.close();
  await c.closed;
});

test('in-band push:subscribe cancelled while judged: a refusal that comes after has no effect', async () => {
  const c = openWs('channels=public&user=bob');
  await c.open;
  c.ws.send(subscribe('slow:secret', 0));
  c.ws.send(JSON.stringify({ event: 'push:unsubscribe', data: { channel: 'slow:secret' } }));
  // Judged after the cancelled one (same delay, asked later): once it is in, the refusal came and went.
  const marker = await s.server.push.publish('later:marker', 'note', null);
  c.ws.send(subscribe('later:marker', 0));
  await until(() => c.messages.some((m) => m.channel === 'later:marker' && m.id === marker.id));
  const sentinel = await s.server.push.publish('public', 'end', null);
  await until(() => c.messages.some((m) => m.channel === 'public' && m.id === sentinel.id));
  assert.equal(c.ws.readyState, 1, 'still open');
  assert.deepEqual(c.messages.filter((m) => m.channel === 'slow:secret'), []);
  c.ws.close();
  await c.closed;
});

test('events: a refused WebSocket frame closes 1008 and a refused POST gets 403, their handlers never run', async () => {
  const before = shouts.length;
  for (const event of ['shout', 'slow shout']) {
    const c = openWs('user=bob');
    await c.open;
    c.ws.send(JSON.stringify({ event, data: 'from bob' }));
    assert.equal((await c.closed).code, 1008);
    const post = await request(`${s.base}/push/emit?user=bob`, { method: 'POST', body: JSON.stringify({ event, data: 'from bob' }) });
    assert.equal(post.status, 403, post.body);
    assert.equal(typeof post.json.error, 'string');
  }
  const banned = await request(`${s.base}/push/emit`, { method: 'POST', headers: { Cookie: 'banned=1' }, body: JSON.stringify({ event: 'other', data: 1 }) });
  assert.equal(banned.status, 403);
  assert.equal(shouts.length, before, 'no handler ran');

  const c = openWs('user=alice');
  await c.open;
  c.ws.send(JSON.stringify({ event: 'slow shout', data: 'from alice 1' }));
  c.ws.send(JSON.stringify({ event: 'shout', data: 'from alice 2' }));
  const post = await request(`${s.base}/push/emit`, { method: 'POST', headers: { Cookie: 'user=alice' }, body: JSON.stringify({ event: 'shout', data: 'from alice 3' }) });
  assert.equal(post.status, 202);
  await until(() => shouts.length === before + 3);
  assert.deepEqual([...shouts.slice(before)].sort(), ['from alice 1', 'from alice 2', 'from alice 3']);
  assert.deepEqual(shouters.slice(before), ['alice', 'alice', 'alice']);
  c.ws.close();
});

test('a hook that fails is a 500, not a crash; the server serves on; refusals are counted', async () => {
  for (const t of TECHNIQUES) {
    const outcome = await attempt(t, 'channel=public&explode=1');
    assert.equal(outcome.status, 500, `${t}: ${outcome.body}`);
  }
  const text = await scrape(s.base);
  assert.ok(metric(text, 'pushwire_refusals_total{reason="authorization"}') >= 30);
  assert.ok(metric(text, 'pushwire_authorization_refusals_total{action="subscribe"}') >= 25);
  assert.ok(metric(text, 'pushwire_authorization_refusals_total{action="connection"}') >= 6);
  assert.ok(metric(text, 'pushwire_authorization_refusals_total{action="emit"}') >= 4);
  assert.equal((await attempt('poll', 'channel=public&since=0')).status, 200);
  const stats = s.server.push.stats();
  assert.equal(stats.streams + stats.heldPolls, 0, 'no refused request left anything open');
});

test('Socket.IO: the connection hook judges each connection; a refusal is a connect_error, and socket.data.request has the hook\'s data', async () => {
  const { io: connectClient } = await import('socket.io-client');
  const seen: unknown[] = [];
  s.server.io.on('connection', (socket) => void seen.push((socket.data.request as PushRequest).data.user));
  const attempt = (query: Record<string, string>, transports: string[]) => new Promise<string>((resolve) => {
    const client = connectClient(s.base, { query, transports, reconnection: false, forceNew: true });
    client.once('connect', () => { client.disconnect(); resolve('connected'); });
    client.once('connect_error', (err: Error) => { client.disconnect(); resolve(`refused: ${err.message}`); });
  });
  for (const transports of [['polling'], ['websocket']]) {
    assert.equal(await attempt({ user: 'carol' }, transports), 'connected');
    // The hook reads cookies and the query; here the query of the Engine.IO handshake.
    assert.equal(await attempt({ user: 'carol', explode: '1' }, transports), 'refused: internal error');
  }
  assert.deepEqual(seen, ['carol', 'carol']);
  const banned = await new Promise<string>((resolve) => {
    const client = connectClient(s.base, { transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: { Cookie: 'banned=1' } });
    client.once('connect', () => { client.disconnect(); resolve('connected'); });
    client.once('connect_error', (err: Error) => { client.disconnect(); resolve(`refused: ${err.message}`); });
  });
  assert.equal(banned, 'refused: not allowed to connect');
});

test('a client that leaves while its verdict is pending leaves nothing behind, on every technique', async () => {
  const { push } = s.server;
  const serverSockets = new Map<number, net.Socket>();
  const onConnection = (socket: net.Socket) => serverSockets.set(socket.remotePort!, socket);
  s.server.http.on('connection', onConnection);
  const before = push.stats();
  // Subscriptions started, by technique: a counter, so one started and let go at once still shows.
  const started = () => Object.fromEntries(TECHNIQUES.map((x) => [x, metric(s.server.metrics.render(), `pushwire_subscriptions_total{technique="${x === 'ws' ? 'websocket' : x}"}`)]));
  for (const t of TECHNIQUES) {
    const startedBefore = started();
    const path = url(t, 'channel=held:x&since=0');
    const socket = net.connect(s.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(t === 'ws'
      ? `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`
      : `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await until(() => verdicts.length === 1);
    const serverSide = serverSockets.get(socket.localPort!)!;
    socket.destroy();
    // An upgrade's socket is left half-open by the client's FIN (no HTTP parser ends it): gone all the same.
    await until(() => serverSide.destroyed || serverSide.readableEnded);
    verdicts.shift()!(true);
    // The verdict's continuation has run once a request after it is answered.
    assert.equal((await request(`${s.base}/push/poll?channel=public`)).status, 200);
    assert.deepEqual(push.stats(), before, `${t}: nothing left open for the client that left`);
    // The one poll started is the check's own, of public.
    assert.deepEqual(started(), { ...startedBefore, poll: startedBefore.poll! + 1 }, `${t}: nothing started for the client that left`);
    await until(() => serverSide.destroyed);
  }
  s.server.http.off('connection', onConnection);
});
