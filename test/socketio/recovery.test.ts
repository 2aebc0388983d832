/**
 * Connection state recovery on the channel log: a socket.io-client 4 that is
 * cut and comes back gets its id, its rooms, and exactly the events it
 * missed, in order (socket.recovered true); when the log no longer holds
 * them, or the session expired, or it left on purpose, it starts afresh.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket as ServerSocket } from '../../src/socketio/index.js';
import { closeClients, Collector, connectSocket, cut, nextEvent, startPushwire, type ClientSocket, type Running } from './helpers.js';

let running: Running;
const serverSockets = new Map<string, ServerSocket>();

function track(running: Running): void {
  running.server.io.on('connection', (socket) => {
    serverSockets.set(socket.id, socket);
    socket.on('join', (room: string, ack: () => void) => { socket.join(room); ack(); });
  });
}

before(async () => {
  running = await startPushwire();
  track(running);
});

after(async () => {
  closeClients();
  await running.stop();
});

/** Cuts the client's connection from the server side; resolves once the server has let the socket go. */
async function cutAndWait(client: ClientSocket): Promise<void> {
  const socket = serverSockets.get(client.id!)!;
  const gone = nextEvent(socket, 'disconnect');
  cut(socket);
  const [reason] = await gone;
  assert.ok(['transport close', 'transport error'].includes(reason as string), String(reason));
}

const publishChat = (text: string) => running.server.push.publish('chat', 'chat message', text);

describe('connection state recovery', () => {
  for (const transports of [['websocket'], ['polling']] as Array<Array<'websocket' | 'polling'>>) {
    test(`over ${transports[0]}: a client cut gets what it missed, in order, exactly once, with socket.recovered`, async () => {
      const client = await connectSocket(running.base, { transports });
      const chat = new Collector<string>(client, 'chat message');
      const id = client.id;
      publishChat('before 1');
      publishChat('before 2');
      await chat.waitFor(2);
      assert.equal(client.recovered, false);

      const back = nextEvent(client, 'connect');
      await cutAndWait(client);
      publishChat('missed 1');
      running.server.io.emit('chat message', 'missed 2 (io.emit)');
      publishChat('missed 3');
      await back;
      assert.equal(client.recovered, true);
      assert.equal(client.id, id, 'the same socket id');
      publishChat('after');
      const got = await chat.waitFor(6);
      // Channel by channel, each in id order (chat, and the namespace's own channel for io.emit);
      // the sentinel, published after the return, last; nothing twice.
      assert.deepEqual(got.filter((t) => !t.includes('io.emit')), ['before 1', 'before 2', 'missed 1', 'missed 3', 'after']);
      assert.deepEqual([...got].sort(), ['after', 'before 1', 'before 2', 'missed 1', 'missed 2 (io.emit)', 'missed 3']);
      assert.equal(got[5], 'after');
      client.disconnect();
    });
  }

  test('events written to a connection already dead (in flight at the cut) come again', async () => {
    const client = await connectSocket(running.base, { transports: ['websocket'] });
    const chat = new Collector<string>(client, 'chat message');
    publishChat('seen');
    await chat.waitFor(1);
    const back = nextEvent(client, 'connect');
    // Published in the same turn as the cut: the server still writes them to the dead socket.
    cut(serverSockets.get(client.id!)!);
    publishChat('in flight 1');
    publishChat('in flight 2');
    await back;
    assert.equal(client.recovered, true);
    assert.deepEqual(await chat.waitFor(3), ['seen', 'in flight 1', 'in flight 2']);
    publishChat('sentinel');
    assert.deepEqual(await chat.waitFor(4), ['seen', 'in flight 1', 'in flight 2', 'sentinel']);
    client.disconnect();
  });

  test('a client that had received nothing yet recovers from where it joined', async () => {
    const client = await connectSocket(running.base, { transports: ['websocket'] });
    const chat = new Collector<string>(client, 'chat message');
    const back = nextEvent(client, 'connect');
    await cutAndWait(client);
    publishChat('while away');
    await back;
    assert.equal(client.recovered, true);
    assert.deepEqual(await chat.waitFor(1), ['while away']);
    client.disconnect();
  });

  test('rooms come back with the socket, and what was sent to them meanwhile', async () => {
    const client = await connectSocket(running.base);
    await client.emitWithAck('join', 'sports');
    const scores = new Collector<string>(client, 'score');
    const back = nextEvent(client, 'connect');
    await cutAndWait(client);
    running.server.io.to('sports').emit('score', '1-0');
    await back;
    assert.equal(client.recovered, true);
    assert.deepEqual(await scores.waitFor(1), ['1-0']);
    assert.ok(serverSockets.get(client.id!)!.rooms.has('sports'));
    running.server.io.to('sports').emit('score', '2-0');
    assert.deepEqual(await scores.waitFor(2), ['1-0', '2-0']);
    client.disconnect();
  });

  test('a client that left on purpose starts afresh', async () => {
    const client = await connectSocket(running.base, { transports: ['websocket'] });
    const chat = new Collector<string>(client, 'chat message');
    publishChat('one');
    await chat.waitFor(1);
    const id = client.id;
    client.disconnect();
    client.connect();
    await nextEvent(client, 'connect');
    assert.equal(client.recovered, false);
    assert.notEqual(client.id, id);
    client.disconnect();
  });
});

describe('connection state recovery refused', () => {
  test('when the log no longer holds what was missed (retention), the client starts afresh', async () => {
    const small = await startPushwire({ push: { retention: 5 } });
    track(small);
    try {
      const client = await connectSocket(small.base, { transports: ['websocket'] });
      const chat = new Collector<string>(client, 'chat message');
      small.server.push.publish('chat', 'chat message', 'first');
      await chat.waitFor(1);
      const id = client.id;
      const back = nextEvent(client, 'connect');
      const socket = serverSockets.get(client.id!)!;
      const gone = nextEvent(socket, 'disconnect');
      cut(socket);
      await gone;
      for (let i = 0; i < 10; i++) small.server.push.publish('chat', 'chat message', `lost ${i}`);
      await back;
      assert.equal(client.recovered, false);
      assert.notEqual(client.id, id);
      client.disconnect();
    } finally {
      await small.stop();
    }
  });

  test('when the session expired (maxDisconnectionDuration), the client starts afresh', async () => {
    const quick = await startPushwire({ socketio: { connectionStateRecovery: { maxDisconnectionDuration: 50 } } });
    track(quick);
    try {
      const client = await connectSocket(quick.base, { transports: ['websocket'], reconnectionDelay: 300, reconnectionDelayMax: 300 });
      const id = client.id;
      const back = nextEvent(client, 'connect');
      const socket = serverSockets.get(client.id!)!;
      cut(socket);
      await back;
      assert.equal(client.recovered, false);
      assert.notEqual(client.id, id);
      client.disconnect();
    } finally {
      await quick.stop();
    }
  });
});
