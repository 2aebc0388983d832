/**
 * Every case of Engine.IO's published protocol test suite (the test-suite
 * folder of socketio/engine.io-protocol), against our Engine.IO server
 * configured as the suite says: path /engine.io/, pingInterval 300,
 * pingTimeout 200, maxPayload 1000000, and every message echoed back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Router } from '../../src/http/router.js';
import { EngineServer } from '../../src/socketio/engine-server.js';
import type { EngineSession } from '../../src/socketio/engine-session.js';
import { mountEngineEndpoint } from '../../src/socketio/mount.js';
import { OutgoingPacket } from '../../src/socketio/outgoing-packet.js';
import { openPolling, openUpgradeSocket, portOf, RawSocket, request, upgradedSession, waitUntil, within } from './helpers.js';

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;

let server: http.Server;
let engine: EngineServer;
let URL_: string;
let WS_URL: string;
/** Close reasons by session id, and waiters for them. */
const closes = new Map<string, string>();
const closeWaiters = new Map<string, (reason: string) => void>();

function closedSession(sid: string): Promise<string> {
  const reason = closes.get(sid);
  if (reason !== undefined) return Promise.resolve(reason);
  return within(new Promise((resolve) => closeWaiters.set(sid, resolve)), 3000, `session ${sid} to close`);
}

before(async () => {
  engine = new EngineServer({ pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });
  engine.onConnection = (session: EngineSession) => {
    session.listener = {
      onMessage: (s, data) => s.send(typeof data === 'string' ? OutgoingPacket.text('4' + data) : OutgoingPacket.binary(data)),
      onClose: (s, reason) => {
        closes.set(s.id, reason);
        closeWaiters.get(s.id)?.(reason);
      },
    };
  };
  const router = new Router();
  mountEngineEndpoint(router, '/engine.io/', engine);
  server = http.createServer((req, res) => router.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => router.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  URL_ = `http://127.0.0.1:${portOf(server)}/engine.io/`;
  WS_URL = URL_.replace('http', 'ws');
});

after(async () => {
  engine.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const polling = (sid: string) => `${URL_}?EIO=4&transport=polling&sid=${sid}`;

function checkHandshake(text: string, upgrades: string[]): void {
  assert.equal(text[0], '0');
  const value = JSON.parse(text.slice(1));
  assert.deepEqual(Object.keys(value).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
  assert.equal(typeof value.sid, 'string');
  assert.deepEqual(value.upgrades, upgrades);
  assert.equal(value.pingInterval, PING_INTERVAL);
  assert.equal(value.pingTimeout, PING_TIMEOUT);
  assert.equal(value.maxPayload, 1000000);
}

describe('Engine.IO protocol suite', () => {
  describe('handshake, HTTP long-polling', () => {
    test('successfully opens a session', async () => {
      const answer = await request(`${URL_}?EIO=4&transport=polling`);
      assert.equal(answer.status, 200);
      checkHandshake(answer.body, ['websocket']);
    });

    test("fails with an invalid 'EIO' query parameter", async () => {
      for (const q of ['?transport=polling', '?EIO=abc&transport=polling', '?EIO=3&transport=polling']) {
        const answer = await request(URL_ + q);
        assert.equal(answer.status, 400, q);
        assert.deepEqual(JSON.parse(answer.body), { code: 5, message: 'Unsupported protocol version' });
      }
    });

    test("fails with an invalid 'transport' query parameter", async () => {
      for (const q of ['?EIO=4', '?EIO=4&transport=abc']) {
        const answer = await request(URL_ + q);
        assert.equal(answer.status, 400, q);
        assert.deepEqual(JSON.parse(answer.body), { code: 0, message: 'Transport unknown' });
      }
    });

    test('fails with an invalid request method', async () => {
      for (const method of ['POST', 'PUT']) {
        const answer = await request(`${URL_}?EIO=4&transport=polling`, { method });
        assert.equal(answer.status, 400, method);
        assert.deepEqual(JSON.parse(answer.body), { code: 2, message: 'Bad handshake method' });
      }
    });
  });

  describe('handshake, WebSocket', () => {
    test('successfully opens a session', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      checkHandshake(await socket.next() as string, []);
      socket.close();
    });

    test("fails with an invalid 'EIO' query parameter", async () => {
      for (const q of ['?transport=websocket', '?EIO=abc&transport=websocket']) {
        const socket = new RawSocket(WS_URL + q);
        await within(socket.closed, 3000, 'close');
        assert.equal(socket.refusal?.status, 400, q);
        assert.equal(JSON.parse(socket.refusal!.body).code, 5);
      }
    });

    test("fails with an invalid 'transport' query parameter", async () => {
      for (const q of ['?EIO=4', '?EIO=4&transport=abc']) {
        const socket = new RawSocket(WS_URL + q);
        await within(socket.closed, 3000, 'close');
        assert.equal(socket.refusal?.status, 400, q);
        assert.equal(JSON.parse(socket.refusal!.body).code, 0);
      }
    });
  });

  describe('message, HTTP long-polling', () => {
    for (const [name, body] of [
      ['one plain text packet', '4hello'],
      ['several plain text packets', '4test1\x1e4test2\x1e4test3'],
      ['plain text and binary packets', '4hello\x1ebAQIDBA=='],
    ]) {
      test(`sends and receives a payload containing ${name}`, async () => {
        const sid = await openPolling(URL_);
        const push = await request(polling(sid), { method: 'POST', body });
        assert.equal(push.status, 200);
        assert.equal(push.body, 'ok');
        const poll = await request(polling(sid));
        assert.equal(poll.status, 200);
        assert.equal(poll.body, body);
      });
    }

    test('closes the session upon invalid packet format', async () => {
      const sid = await openPolling(URL_);
      const push = await request(polling(sid), { method: 'POST', body: 'abc' });
      assert.equal(push.status, 400);
      assert.equal(await closedSession(sid), 'parse error');
      const poll = await request(polling(sid));
      assert.equal(poll.status, 400);
    });

    test('closes the session upon duplicate poll requests', async () => {
      const sid = await openPolling(URL_);
      const first = request(polling(sid));
      // The second poll must come while the first is held: wait until the server holds it.
      await waitUntil(() => (engineSession(sid)?.transport.writable ?? false));
      const second = await request(`${polling(sid)}&t=burst`);
      assert.ok([400, 500].includes(second.status));
      const firstAnswer = await first;
      assert.equal(firstAnswer.status, 200);
      assert.equal(firstAnswer.body, '1');
      const poll = await request(polling(sid));
      assert.equal(poll.status, 400);
    });
  });

  describe('message, WebSocket', () => {
    test('sends and receives a plain text packet', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.opened;
      await socket.next(); // handshake
      socket.send('4hello');
      assert.equal(await socket.next(), '4hello');
      socket.close();
    });

    test('sends and receives a binary packet', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next(); // handshake
      socket.send(Uint8Array.from([1, 2, 3, 4]));
      const data = await socket.next();
      assert.ok(Buffer.isBuffer(data));
      assert.deepEqual([...data], [1, 2, 3, 4]);
      socket.close();
    });

    test('closes the session upon invalid packet format', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next(); // handshake
      socket.send('abc');
      await within(socket.closed, 3000, 'close');
    });
  });

  describe('heartbeat', () => {
    test('HTTP long-polling: sends ping/pong packets', async () => {
      const sid = await openPolling(URL_);
      for (let i = 0; i < 3; i++) {
        const poll = await request(polling(sid));
        assert.equal(poll.status, 200);
        assert.equal(poll.body, '2');
        const push = await request(polling(sid), { method: 'POST', body: '3' });
        assert.equal(push.status, 200);
      }
    });

    test('HTTP long-polling: closes the session upon ping timeout', async () => {
      const start = Date.now();
      const sid = await openPolling(URL_);
      assert.equal(await closedSession(sid), 'ping timeout');
      assert.ok(Date.now() - start >= PING_INTERVAL + PING_TIMEOUT - 20, `closed after ${Date.now() - start} ms`);
      const poll = await request(polling(sid));
      assert.ok(poll.status === 400 || (poll.status === 200 && poll.body === '1'));
    });

    test('WebSocket: sends ping/pong packets', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next(); // handshake
      for (let i = 0; i < 3; i++) {
        assert.equal(await socket.next(), '2');
        socket.send('3');
      }
      socket.close();
    });

    test('WebSocket: closes the session upon ping timeout', async () => {
      const start = Date.now();
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await within(socket.closed, 3000, 'close');
      assert.ok(Date.now() - start >= PING_INTERVAL + PING_TIMEOUT - 20);
    });
  });

  describe('close', () => {
    test('HTTP long-polling: forcefully closes the session', async () => {
      const sid = await openPolling(URL_);
      const held = request(polling(sid));
      await waitUntil(() => (engineSession(sid)?.transport.writable ?? false));
      const push = await request(polling(sid), { method: 'POST', body: '1' });
      assert.equal(push.status, 200);
      const answer = await held;
      assert.equal(answer.status, 200);
      assert.equal(answer.body, '6');
      const poll = await request(polling(sid));
      assert.equal(poll.status, 400);
    });

    test('WebSocket: forcefully closes the session', async () => {
      const socket = new RawSocket(`${WS_URL}?EIO=4&transport=websocket`);
      await socket.next(); // handshake
      socket.send('1');
      await within(socket.closed, 3000, 'close');
    });
  });

  describe('upgrade', () => {
    test('successfully upgrades from HTTP long-polling to WebSocket', async () => {
      const { sid, socket } = await openUpgradeSocket(URL_);
      socket.send('2probe');
      assert.equal(await socket.next(), '3probe');
      const poll = await request(polling(sid));
      assert.equal(poll.status, 200);
      assert.equal(poll.body, '6'); // noop: ends the long poll cleanly
      socket.send('5');
      socket.send('4hello');
      assert.equal(await socket.next(), '4hello');
      socket.close();
    });

    test('ignores HTTP requests with same sid after upgrade', async () => {
      const { sid, socket } = await upgradedSession(URL_, (id) => engineSession(id)?.transport.name === 'websocket');
      const poll = await request(polling(sid));
      assert.equal(poll.status, 400);
      assert.deepEqual(JSON.parse(poll.body), { code: 3, message: 'Bad request' });
      socket.send('4hello');
      assert.equal(await socket.next(), '4hello');
      socket.close();
    });

    test('ignores WebSocket connection with same sid after upgrade', async () => {
      const { sid, socket } = await upgradedSession(URL_, (id) => engineSession(id)?.transport.name === 'websocket');
      const socket2 = new RawSocket(`${WS_URL}?EIO=4&transport=websocket&sid=${sid}`);
      await within(socket2.closed, 3000, 'second socket to close');
      socket.send('4hello');
      assert.equal(await socket.next(), '4hello');
      socket.close();
    });
  });
});

/** The live session with this id. */
function engineSession(sid: string): EngineSession | undefined {
  return engine.session(sid);
}
