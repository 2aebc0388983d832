/**
 * Every case of Socket.IO's published protocol test suite (the test-suite
 * folder of socketio/socket.io-protocol), against our server configured as
 * the suite says: pingInterval 300, pingTimeout 200, the main namespace
 * answering `message` with `message-back`, `message-with-ack` with its
 * acknowledgement and `emit-with-ack` with an emit of its own, "/custom"
 * declared, and every socket told its `auth`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Server } from '../../src/socketio/index.js';
import { openPolling, openUpgradeSocket, portOf, RawSocket, request, upgradedSession, waitUntil, within } from './helpers.js';

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;

let server: http.Server;
let io: Server;
let URL_: string;
let WS_URL: string;

before(async () => {
  server = http.createServer((_req, res) => { res.writeHead(404); res.end(); });
  io = new Server(server, { pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });
  io.on('connection', (socket) => {
    socket.emit('auth', socket.handshake.auth);
    socket.on('message', (...args: unknown[]) => socket.emit('message-back', ...args));
    socket.on('message-with-ack', (...args: unknown[]) => {
      const ack = args.pop() as (...a: unknown[]) => void;
      ack(...args);
    });
    socket.on('emit-with-ack', (...args: unknown[]) => {
      socket.emit('emit-with-ack', ...args, (...answer: unknown[]) => socket.emit('emit-with-ack', ...answer));
    });
  });
  io.of('/custom').on('connection', (socket) => socket.emit('auth', socket.handshake.auth));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  URL_ = `http://127.0.0.1:${portOf(server)}/socket.io/`;
  WS_URL = URL_.replace('http', 'ws');
});

after(async () => {
  await io.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const polling = (sid: string) => `${URL_}?EIO=4&transport=polling&sid=${sid}`;

async function initSocketIOConnection(): Promise<RawSocket> {
  const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
  await socket.next(); // Engine.IO handshake
  socket.send('40');
  await socket.next(); // Socket.IO handshake
  await socket.next(); // "auth" packet
  return socket;
}

function handshakeOf(data: string | Buffer, prefix: string): Record<string, unknown> {
  assert.equal(typeof data, 'string');
  assert.equal((data as string).slice(0, prefix.length), prefix);
  const handshake = JSON.parse((data as string).slice(prefix.length));
  assert.deepEqual(Object.keys(handshake), ['sid']);
  assert.equal(typeof handshake.sid, 'string');
  return handshake;
}

describe('Socket.IO protocol suite: its Engine.IO part, at /socket.io/', () => {
  test('should successfully open a session (polling)', async () => {
    const answer = await request(`${URL_}?EIO=4&transport=polling`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body[0], '0');
    const value = JSON.parse(answer.body.slice(1));
    assert.deepEqual(Object.keys(value).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
    assert.deepEqual(value.upgrades, ['websocket']);
    assert.equal(value.pingInterval, PING_INTERVAL);
    assert.equal(value.pingTimeout, PING_TIMEOUT);
    assert.equal(value.maxPayload, 1000000);
  });

  test("should fail with an invalid 'EIO', 'transport' or method (polling)", async () => {
    for (const [q, method, code] of [
      ['?transport=polling', 'GET', 5], ['?EIO=abc&transport=polling', 'GET', 5],
      ['?EIO=4', 'GET', 0], ['?EIO=4&transport=abc', 'GET', 0],
      ['?EIO=4&transport=polling', 'POST', 2], ['?EIO=4&transport=polling', 'PUT', 2],
    ] as const) {
      const answer = await request(URL_ + q, { method });
      assert.equal(answer.status, 400, `${method} ${q}`);
      assert.equal(JSON.parse(answer.body).code, code, `${method} ${q}`);
    }
  });

  test('should successfully open a session (WebSocket)', async () => {
    const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
    const data = await socket.next() as string;
    assert.equal(data[0], '0');
    const value = JSON.parse(data.slice(1));
    assert.deepEqual(value.upgrades, []);
    assert.equal(value.pingInterval, PING_INTERVAL);
    socket.close();
  });

  test("should fail with an invalid 'EIO' or 'transport' (WebSocket)", async () => {
    for (const q of ['?transport=websocket', '?EIO=abc&transport=websocket', '?EIO=4', '?EIO=4&transport=abc']) {
      const socket = new RawSocket(WS_URL + q);
      await within(socket.closed, 3000, 'close');
      assert.equal(socket.refusal?.status, 400, q);
    }
  });

  test('should send ping/pong packets (polling)', async () => {
    const sid = await openPolling(URL_);
    for (let i = 0; i < 3; i++) {
      const poll = await request(polling(sid));
      assert.equal(poll.body, '2');
      assert.equal((await request(polling(sid), { method: 'POST', body: '3' })).status, 200);
    }
  });

  test('should close the session upon ping timeout (polling)', async () => {
    const sid = await openPolling(URL_);
    // The sentinel: the poll that carries the ping, then silence (no pong).
    assert.equal((await request(polling(sid))).body, '2');
    const start = Date.now();
    const poll = await request(polling(sid));
    assert.ok(Date.now() - start >= PING_TIMEOUT - 20);
    assert.ok(poll.status === 400 || (poll.status === 200 && poll.body === '1'), `${poll.status} ${poll.body}`);
    assert.equal((await request(polling(sid))).status, 400);
  });

  test('should send ping/pong packets (WebSocket)', async () => {
    const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
    await socket.next();
    for (let i = 0; i < 3; i++) {
      assert.equal(await socket.next(), '2');
      socket.send('3');
    }
    socket.close();
  });

  test('should close the session upon ping timeout (WebSocket)', async () => {
    const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
    await within(socket.closed, 3000, 'close');
  });

  test('should forcefully close the session (polling)', async () => {
    const sid = await openPolling(URL_);
    const held = request(polling(sid));
    await waitUntil(() => io.engine.session(sid)?.transport.writable ?? false);
    await request(polling(sid), { method: 'POST', body: '1' });
    const answer = await held;
    assert.equal(answer.status, 200);
    assert.equal(answer.body, '6');
    assert.equal((await request(polling(sid))).status, 400);
  });

  test('should forcefully close the session (WebSocket)', async () => {
    const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
    await socket.next();
    socket.send('1');
    await within(socket.closed, 3000, 'close');
  });

  test('should successfully upgrade from HTTP long-polling to WebSocket', async () => {
    const { sid, socket } = await openUpgradeSocket(URL_);
    socket.send('2probe');
    assert.equal(await socket.next(), '3probe');
    socket.send('5');
    await waitUntil(() => io.engine.session(sid)?.transport.name === 'websocket');
    socket.close();
  });

  test('should ignore HTTP requests and WebSocket connections with same sid after upgrade', async () => {
    const { sid, socket } = await upgradedSession(URL_, (id) => io.engine.session(id)?.transport.name === 'websocket');
    assert.equal((await request(polling(sid))).status, 400);
    const socket2 = new RawSocket(`${WS_URL}?EIO=4&transport=websocket&sid=${sid}`);
    await within(socket2.closed, 3000, 'second socket to close');
    socket.close();
  });
});

describe('Socket.IO protocol suite', () => {
  describe('connect', () => {
    test('should allow connection to the main namespace', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next();
      socket.send('40');
      handshakeOf(await socket.next(), '40');
      assert.equal(await socket.next(), '42["auth",{}]');
      socket.close();
    });

    test('should allow connection to the main namespace with a payload', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next();
      socket.send('40{"token":"123"}');
      handshakeOf(await socket.next(), '40');
      assert.equal(await socket.next(), '42["auth",{"token":"123"}]');
      socket.close();
    });

    test('should allow connection to a custom namespace', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next();
      socket.send('40/custom,');
      handshakeOf(await socket.next(), '40/custom,');
      assert.equal(await socket.next(), '42/custom,["auth",{}]');
      socket.close();
    });

    test('should allow connection to a custom namespace with a payload', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next();
      socket.send('40/custom,{"token":"abc"}');
      handshakeOf(await socket.next(), '40/custom,');
      assert.equal(await socket.next(), '42/custom,["auth",{"token":"abc"}]');
      socket.close();
    });

    test('should disallow connection to an unknown namespace', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next();
      socket.send('40/random');
      assert.equal(await socket.next(), '44/random,{"message":"Invalid namespace"}');
      socket.close();
    });

    test('should disallow connection with an invalid handshake', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next();
      socket.send('4abc');
      await within(socket.closed, 3000, 'close');
    });
  });

  describe('disconnect', () => {
    test('should disconnect from the main namespace', async () => {
      const socket = await initSocketIOConnection();
      socket.send('41');
      // The connection stays: the next thing is the heartbeat.
      assert.equal(await socket.next(), '2');
      socket.close();
    });

    test('should connect then disconnect from a custom namespace', async () => {
      const socket = await initSocketIOConnection();
      assert.equal(await socket.next(), '2'); // ping
      socket.send('40/custom');
      await socket.next(); // Socket.IO handshake
      await socket.next(); // auth packet
      socket.send('41/custom');
      socket.send('42["message","message to main namespace",1,2]');
      assert.equal(await socket.next(), '42["message-back","message to main namespace",1,2]');
      socket.close();
    });
  });

  describe('acknowledgements', () => {
    test('should emit with an ack expectation', async () => {
      const socket = await initSocketIOConnection();
      socket.send('42["emit-with-ack",1,"2",{"3":[true]}]');
      assert.equal(await socket.next(), '421["emit-with-ack",1,"2",{"3":[true]}]');
      socket.send('431[1,"2",{"3":[true]}]');
      assert.equal(await socket.next(), '42["emit-with-ack",1,"2",{"3":[true]}]');
      socket.close();
    });

    test('should emit with a binary ack expectation', async () => {
      const socket = await initSocketIOConnection();
      const DATA = '{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},"test"';
      socket.send(`452-["emit-with-ack",${DATA}]`);
      socket.send(Uint8Array.from([1, 2, 3]));
      socket.send(Uint8Array.from([4, 5, 6]));
      let packets = await socket.packets(3);
      assert.equal(packets[0], `452-1["emit-with-ack",${DATA}]`);
      assert.deepEqual([...packets[1] as Buffer], [1, 2, 3]);
      assert.deepEqual([...packets[2] as Buffer], [4, 5, 6]);
      socket.send(`462-1[${DATA}]`);
      socket.send(Uint8Array.from([1, 2, 3]));
      socket.send(Uint8Array.from([4, 5, 6]));
      packets = await socket.packets(3);
      assert.equal(packets[0], `452-["emit-with-ack",${DATA}]`);
      assert.deepEqual([...packets[1] as Buffer], [1, 2, 3]);
      assert.deepEqual([...packets[2] as Buffer], [4, 5, 6]);
      socket.close();
    });
  });

  describe('message', () => {
    test('should send a plain-text packet', async () => {
      const socket = await initSocketIOConnection();
      socket.send('42["message",1,"2",{"3":[true]}]');
      assert.equal(await socket.next(), '42["message-back",1,"2",{"3":[true]}]');
      socket.close();
    });

    test('should send a packet with binary attachments', async () => {
      const socket = await initSocketIOConnection();
      socket.send('452-["message",1,{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      socket.send(Uint8Array.from([1, 2, 3]));
      socket.send(Uint8Array.from([4, 5, 6]));
      const packets = await socket.packets(3);
      assert.equal(packets[0], '452-["message-back",1,{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      assert.deepEqual([...packets[1] as Buffer], [1, 2, 3]);
      assert.deepEqual([...packets[2] as Buffer], [4, 5, 6]);
      socket.close();
    });

    test('should send a plain-text packet with an ack', async () => {
      const socket = await initSocketIOConnection();
      socket.send('42456["message-with-ack",1,"2",{"3":[false]}]');
      assert.equal(await socket.next(), '43456[1,"2",{"3":[false]}]');
      socket.close();
    });

    test('should send a packet with binary attachments and an ack', async () => {
      const socket = await initSocketIOConnection();
      socket.send('452-789["message-with-ack",1,{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      socket.send(Uint8Array.from([1, 2, 3]));
      socket.send(Uint8Array.from([4, 5, 6]));
      const packets = await socket.packets(3);
      assert.equal(packets[0], '462-789[1,{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      assert.deepEqual([...packets[1] as Buffer], [1, 2, 3]);
      assert.deepEqual([...packets[2] as Buffer], [4, 5, 6]);
      socket.close();
    });

    for (const [what, text] of [
      ['unknown packet type', '4abc'],
      ['invalid payload format', '42{}'],
      ['invalid ack id', '42abc["message-with-ack",1,"2",{"3":[false]}]'],
    ]) {
      test(`should close the connection upon invalid format (${what})`, async () => {
        const socket = await initSocketIOConnection();
        socket.send(text);
        await within(socket.closed, 3000, 'close');
      });
    }
  });
});
