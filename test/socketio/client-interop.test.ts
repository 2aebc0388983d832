/**
 * The real socket.io-client 4 against the whole pushwire server: the three
 * ways of connecting (polling only, WebSocket only, polling then upgrade),
 * the seed's chat among them on channel `chat`, order, acknowledgements both
 * ways, binary, namespaces and rooms, and the one event model (a Socket.IO
 * chat message on GET /push/poll, a POST /push/emit chat message at every
 * Socket.IO client, a room as a channel).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAT_CHANNEL } from '../../src/app/index.js';
import type { Socket as ServerSocket } from '../../src/socketio/index.js';
import { closeClients, Collector, connectSocket, nextEvent, request, startPushwire, waitUntil, type ClientSocket, type Running } from './helpers.js';

const MODES: Array<{ name: string; options: { transports?: Array<'polling' | 'websocket'> }; final: string }> = [
  { name: 'polling', options: { transports: ['polling'] }, final: 'polling' },
  { name: 'websocket', options: { transports: ['websocket'] }, final: 'websocket' },
  { name: 'upgrade', options: {}, final: 'websocket' },
];

let running: Running;
const serverSockets = new Map<string, ServerSocket>();

before(async () => {
  running = await startPushwire();
  const io = running.server.io;
  io.on('connection', (socket) => {
    serverSockets.set(socket.id, socket);
    socket.on('disconnect', () => serverSockets.delete(socket.id));
    socket.on('join', (room: string, ack: () => void) => { socket.join(room); ack(); });
    socket.on('echo', (...args: unknown[]) => {
      const ack = args.pop() as (...a: unknown[]) => void;
      ack(...args);
    });
    socket.on('ask me', async (question: string) => {
      const answer = await socket.timeout(2000).emitWithAck('question', question);
      socket.emit('answered', answer);
    });
  });
  const admin = io.of('/admin');
  admin.use((socket, next) => (socket.handshake.auth.token === 'secret' ? next() : next(Object.assign(new Error('not authorized'), { data: { hint: 'token' } }))));
  admin.on('connection', (socket) => {
    socket.emit('welcome', socket.nsp.name, socket.handshake.query.extra);
    socket.on('shout', (text: string) => admin.emit('shouted', text));
  });
});

after(async () => {
  closeClients();
  await running.stop();
});

async function connectAll(): Promise<ClientSocket[]> {
  const clients: ClientSocket[] = [];
  for (const mode of MODES) {
    const socket = await connectSocket(running.base, mode.options);
    if (mode.final === 'websocket' && socket.io.engine.transport.name !== 'websocket') await nextEvent(socket.io.engine, 'upgrade');
    clients.push(socket);
  }
  return clients;
}

describe('socket.io-client 4 against pushwire', () => {
  test('polling only, WebSocket only, and polling upgraded to WebSocket all connect', async () => {
    for (const mode of MODES) {
      const socket = await connectSocket(running.base, mode.options);
      if (mode.final === 'websocket' && socket.io.engine.transport.name !== 'websocket') await nextEvent(socket.io.engine, 'upgrade');
      assert.equal(socket.io.engine.transport.name, mode.final, mode.name);
      await waitUntil(() => serverSockets.get(socket.id!)?.conn.transport.name === mode.final);
      assert.equal(socket.connected, true);
      socket.disconnect();
    }
  });

  test("the seed's chat: every client, the sender too, gets every message, whatever its transport", async () => {
    const clients = await connectAll();
    const inboxes = clients.map((c) => new Collector<string>(c, 'chat message'));
    clients.forEach((c, i) => c.emit('chat message', `hello from ${MODES[i]!.name}`));
    for (const inbox of inboxes) {
      const got = await inbox.waitFor(3);
      assert.deepEqual(new Set(got), new Set(MODES.map((m) => `hello from ${m.name}`)));
    }
    for (const c of clients) c.disconnect();
  });

  test('50 messages from one client arrive in order at every client', async () => {
    const clients = await connectAll();
    const inboxes = clients.map((c) => new Collector<string>(c, 'chat message'));
    const sent = Array.from({ length: 50 }, (_, i) => `message ${i}`);
    for (const text of sent) clients[2]!.emit('chat message', text);
    for (const inbox of inboxes) assert.deepEqual(await inbox.waitFor(50), sent);
    for (const c of clients) c.disconnect();
  });

  test('acknowledgements both ways', async () => {
    for (const mode of MODES) {
      const socket = await connectSocket(running.base, mode.options);
      // Client to server, with any arguments back.
      assert.deepEqual(await socket.emitWithAck('echo', 1, 'two', { three: [3] }), 1);
      const all = await new Promise((resolve) => socket.emit('echo', 1, 'two', { three: [3] }, (...args: unknown[]) => resolve(args)));
      assert.deepEqual(all, [1, 'two', { three: [3] }]);
      // The chat answers with its verdict.
      assert.deepEqual(await socket.emitWithAck('chat message', 'acked'), { ok: true });
      assert.deepEqual(await socket.emitWithAck('chat message', ''), { error: 'a chat message must not be empty' });
      assert.deepEqual(await socket.emitWithAck('chat message', 'x'.repeat(1001)), { error: 'a chat message must be at most 1000 characters' });
      // Server to client.
      socket.on('question', (q: string, ack: (a: string) => void) => ack(`answer to ${q}`));
      socket.emit('ask me', mode.name);
      // (With recovery on, an event without acknowledgement also carries the offset, last.)
      assert.equal((await nextEvent(socket, 'answered'))[0], `answer to ${mode.name}`);
      socket.disconnect();
    }
  });

  test('binary arguments travel as attachments, both ways, on every transport', async () => {
    for (const mode of MODES) {
      const socket = await connectSocket(running.base, mode.options);
      const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
      const answer = await socket.emitWithAck('echo', { file: bytes, name: 'b.bin' }, bytes.subarray(2));
      assert.deepEqual([...(answer.file as Buffer)], [...bytes], mode.name);
      assert.equal(answer.name, 'b.bin');
      socket.disconnect();
    }
  });

  test('a declared namespace with a middleware: auth and query in the handshake, CONNECT_ERROR when refused', async () => {
    const refused = (await import('socket.io-client')).io(`${running.base}/admin`, { forceNew: true, auth: { token: 'wrong' } });
    const [err] = await nextEvent<[Error & { data?: unknown }]>(refused, 'connect_error');
    assert.equal(err.message, 'not authorized');
    assert.deepEqual(err.data, { hint: 'token' });
    refused.close();

    const unknown = (await import('socket.io-client')).io(`${running.base}/nowhere`, { forceNew: true });
    const [missing] = await nextEvent<[Error]>(unknown, 'connect_error');
    assert.equal(missing.message, 'Invalid namespace');
    unknown.close();

    let welcome!: Promise<unknown[]>;
    const a = await connectSocket(`${running.base}/admin`, { auth: { token: 'secret' }, query: { extra: 'x' } }, (s) => { welcome = nextEvent(s, 'welcome'); });
    assert.deepEqual((await welcome).slice(0, 2), ['/admin', 'x']);
    const b = await connectSocket(`${running.base}/admin`, { auth: { token: 'secret' }, transports: ['polling'] });
    const main = await connectSocket(running.base);
    const mainShouts = new Collector(main, 'shouted');
    const got = new Collector(b, 'shouted');
    a.emit('shout', 'hi admins');
    assert.equal((await got.waitFor(1))[0], 'hi admins');
    // The main namespace heard nothing: a chat sentinel arrives, the shout never did.
    const chat = new Collector(main, 'chat message');
    main.emit('chat message', 'sentinel');
    await chat.waitFor(1);
    assert.equal(mainShouts.items.length, 0);
    for (const s of [a, b, main]) s.disconnect();
  });

  test('a room is a channel: io.to(room) reaches its members only, and shows on GET /push/poll', async () => {
    const [member, other] = [await connectSocket(running.base), await connectSocket(running.base, { transports: ['polling'] })];
    await member.emitWithAck('join', 'news');
    const news = new Collector<string>(member, 'headline');
    const otherNews = new Collector<string>(other, 'headline');
    const before = await running.server.push.last('news');
    running.server.io.to('news').emit('headline', 'from io.to');
    running.server.push.publish('news', 'headline', 'from the push layer');
    assert.deepEqual(await news.waitFor(2), ['from io.to', 'from the push layer']);
    const poll = await request(`${running.base}/push/poll?channel=news&since=${before}`);
    assert.deepEqual(JSON.parse(poll.body).messages.map((m: { event: string; data: unknown }) => [m.event, m.data]),
      [['headline', 'from io.to'], ['headline', 'from the push layer']]);
    // The other client, not in the room, got neither: its own sentinel comes first.
    const chat = new Collector(other, 'chat message');
    other.emit('chat message', 'sentinel for the room test');
    await chat.waitFor(1);
    assert.equal(otherNews.items.length, 0);
    member.disconnect();
    other.disconnect();
  });

  test('socket.broadcast.emit reaches every other socket, not the sender', async () => {
    const io = running.server.io;
    const [a, b] = [await connectSocket(running.base), await connectSocket(running.base)];
    const atA = new Collector(a, 'news flash');
    const atB = new Collector(b, 'news flash');
    serverSockets.get(a.id!)!.broadcast.emit('news flash', 'not for a', 2);
    assert.deepEqual(await atB.waitFor(1), ['not for a']);
    io.emit('news flash', 'for everyone');
    assert.deepEqual(await atA.waitFor(1), ['for everyone']);
    assert.deepEqual(await atB.waitFor(2), ['not for a', 'for everyone']);
    a.disconnect();
    b.disconnect();
  });

  test('one event model: a Socket.IO chat message shows on GET /push/poll?channel=chat, and POST /push/emit reaches every Socket.IO client', async () => {
    const clients = await connectAll();
    const inboxes = clients.map((c) => new Collector<string>(c, 'chat message'));
    const before = await running.server.push.last(CHAT_CHANNEL);
    clients[0]!.emit('chat message', 'from Socket.IO');
    await Promise.all(inboxes.map((i) => i.waitFor(1)));
    const poll = await request(`${running.base}/push/poll?channel=chat&since=${before}`);
    const body = JSON.parse(poll.body);
    assert.deepEqual(body.messages.map((m: { event: string; data: unknown }) => [m.event, m.data]), [['chat message', 'from Socket.IO']]);

    const emit = await request(`${running.base}/push/emit`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ event: 'chat message', data: 'from POST /push/emit' }),
    });
    assert.equal(emit.status, 202);
    for (const inbox of inboxes) assert.deepEqual(await inbox.waitFor(2), ['from Socket.IO', 'from POST /push/emit']);
    for (const c of clients) c.disconnect();
  });

  test('the browser client is served at /socket.io/socket.io.js, with an ETag', async () => {
    const answer = await request(`${running.base}/socket.io/socket.io.js`);
    assert.equal(answer.status, 200);
    assert.match(answer.headers['content-type'] ?? '', /^text\/javascript/);
    assert.match(answer.body, /pushwire Socket\.IO client/);
    assert.match(answer.body, /var io = /);
    const again = await request(`${running.base}/socket.io/socket.io.js`, { headers: { 'If-None-Match': String(answer.headers.etag) } });
    assert.equal(again.status, 304);
  });
});

describe("the seed's server code on a plain http.Server, ported by its import", () => {
  test('new Server(httpServer): io.emit reaches every client, over every transport; other requests reach the old handler', async () => {
    const http = await import('node:http');
    const { Server } = await import('../../src/index.js');
    const server = http.createServer((_req, res) => res.end('the page'));
    // The seed's code, as it reads:
    const io = new Server(server);
    io.on('connection', function (socket) {
      socket.on('chat message', function (msg: string) {
        io.emit('chat message', msg);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const clients = [];
      for (const mode of MODES) clients.push(await connectSocket(base, mode.options));
      const inboxes = clients.map((c) => new Collector<string>(c, 'chat message'));
      clients[1]!.emit('chat message', 'hello, seed');
      for (const inbox of inboxes) assert.deepEqual(await inbox.waitFor(1), ['hello, seed']);
      assert.equal((await request(`${base}/`)).body, 'the page');
      assert.match((await request(`${base}/socket.io/socket.io.js`)).body, /var io = /);
      for (const c of clients) c.disconnect();
    } finally {
      await io.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
