/**
 * WebSocketServer misuse that must neither crash the process nor answer an
 * upgrade twice: verifyClient verdicts of every shape, several servers on one
 * http.Server, and option combinations that cannot work.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RawClient, rawHttp, upgradeRequest } from './raw-client.js';
import { WebSocketServer } from '../../src/websocket/server.js';

async function listen(s: http.Server): Promise<number> {
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return (s.address() as AddressInfo).port;
}

async function closeHttp(s: http.Server): Promise<void> {
  s.closeAllConnections();
  await new Promise((r) => s.close(r));
}

/** Fails the test if the process sees an unhandled rejection or uncaught exception meanwhile. */
function watchForEscapes(): { check(): void; stop(): void } {
  const escaped: unknown[] = [];
  const onEscape = (err: unknown) => { escaped.push(err); };
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
  return {
    /** Asserts nothing escaped since the last check. */
    check() { assert.deepEqual(escaped.splice(0), [], 'an error escaped the verification chain'); },
    stop() {
      process.off('unhandledRejection', onEscape);
      process.off('uncaughtException', onEscape);
    },
  };
}

describe('verifyClient: anything but true refuses, and nothing escapes', () => {
  let httpServer: http.Server;
  let port: number;
  let wss: WebSocketServer;
  const escapes = watchForEscapes();
  // What verifyClient answers, picked by the request's X-Verdict header (a JavaScript user may return anything).
  const verdicts: Record<string, () => unknown> = {
    'true': () => true,
    'null': () => null,
    'undefined': () => undefined,
    'zero': () => 0,
    'one': () => 1,
    'string': () => 'yes',
    'empty object': () => ({}),
    'status not a number': () => ({ status: 'teapot', message: 'x' }),
    'status 200': () => ({ status: 200, message: 'fine?' }),
    'status 101': () => ({ status: 101, message: 'switch' }),
    'promise of null': () => Promise.resolve(null),
    'promise of undefined': () => Promise.resolve(undefined),
    'promise of true': () => Promise.resolve(true),
    'promise of a refusal': () => Promise.resolve({ status: 401, message: 'who are you?' }),
    'sync throw': () => { throw new Error('boom'); },
    'throw a non-error': () => { throw null; },
    'rejected promise': () => Promise.reject(new Error('boom')),
    'rejected with undefined': () => Promise.reject(undefined),
    'thenable whose then throws': () => ({ then() { throw new Error('boom'); } }),
    'refusal whose status getter throws': () => ({ get status(): number { throw new Error('boom'); }, message: 'x' }),
  };

  before(async () => {
    httpServer = http.createServer((_req, res) => res.end('plain'));
    port = await listen(httpServer);
    wss = new WebSocketServer({
      server: httpServer,
      path: '/v',
      verifyClient: ((req: http.IncomingMessage) => verdicts[String(req.headers['x-verdict'])]!()) as never,
    });
    wss.on('connection', (ws) => ws.send('in'));
  });
  after(async () => {
    escapes.stop();
    wss.close();
    await closeHttp(httpServer);
  });

  const expected: Array<[string, number]> = [
    ['null', 403], ['undefined', 403], ['zero', 403], ['one', 403], ['string', 403], ['empty object', 403],
    ['status not a number', 403], ['status 200', 403], ['status 101', 403],
    ['promise of null', 403], ['promise of undefined', 403], ['promise of a refusal', 401],
    ['sync throw', 500], ['throw a non-error', 500], ['rejected promise', 500], ['rejected with undefined', 500],
    ['thenable whose then throws', 500], ['refusal whose status getter throws', 500],
  ];
  for (const [name, status] of expected) {
    test(`${name}: ${status}, no upgrade, and the server lives on`, async () => {
      const answer = await rawHttp(port, upgradeRequest('/v', { 'X-Verdict': name }));
      assert.equal(answer.status, status, answer.head);
      assert.equal(answer.headers['sec-websocket-accept'], undefined);
      assert.equal(typeof (JSON.parse(answer.body) as { error: unknown }).error, 'string');
      // Let any stray rejection surface before judging.
      await new Promise((r) => setImmediate(r));
      escapes.check();
    });
  }

  for (const name of ['true', 'promise of true']) {
    test(`${name} lets the upgrade through`, async () => {
      const c = await RawClient.connect(port, '/v', { 'X-Verdict': name });
      assert.equal((await c.nextFrame()).payload.toString(), 'in');
      c.destroy();
      escapes.check();
    });
  }
});

/** Every byte the server sends on one upgrade, until it has been quiet for a while after a 101 (or closed). */
function collectAnswer(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer: ${text}`)); }, 3000);
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      // A second 101 would follow the first in the same turn: a close frame after it ends the wait.
      socket.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
    });
    socket.on('error', () => {});
    socket.on('close', () => { clearTimeout(timer); resolve(text); });
    socket.write(upgradeRequest(path));
  });
}

describe('several WebSocketServers on one http.Server', () => {
  test('a second one without a path is refused at construction; the first answers once', async () => {
    const httpServer = http.createServer();
    const port = await listen(httpServer);
    const first = new WebSocketServer({ server: httpServer });
    assert.throws(() => new WebSocketServer({ server: httpServer }), (err: Error) =>
      err instanceof Error && /already/.test(err.message) && /path/.test(err.message));
    const answer = await collectAnswer(port, '/');
    assert.equal(answer.split('HTTP/1.1 101').length - 1, 1, answer);
    first.close();
    await closeHttp(httpServer);
  });

  test('one with a path beside one without, or two on the same path, are refused too', async () => {
    const httpServer = http.createServer();
    const any = new WebSocketServer({ server: httpServer });
    assert.throws(() => new WebSocketServer({ server: httpServer, path: '/chat' }), /already/);
    any.close();
    const chat = new WebSocketServer({ server: httpServer, path: '/chat' });
    assert.throws(() => new WebSocketServer({ server: httpServer, path: '/chat' }), /already/);
    assert.throws(() => new WebSocketServer({ server: httpServer }), /already/);
    const other = new WebSocketServer({ server: httpServer, path: '/other' });
    chat.close();
    other.close();
  });

  test('a closed server gives its place back', async () => {
    const httpServer = http.createServer();
    const port = await listen(httpServer);
    const first = new WebSocketServer({ server: httpServer });
    await new Promise<void>((r) => first.close(() => r()));
    const second = new WebSocketServer({ server: httpServer });
    second.on('connection', (ws) => ws.send('second'));
    const c = await RawClient.connect(port, '/');
    assert.equal((await c.nextFrame()).payload.toString(), 'second');
    c.destroy();
    second.close();
    await closeHttp(httpServer);
  });

  test('handleUpgrade twice on one socket throws instead of answering twice', async () => {
    const httpServer = http.createServer();
    const port = await listen(httpServer);
    const wss = new WebSocketServer({ noServer: true });
    const thrown: unknown[] = [];
    httpServer.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head);
      try { wss.handleUpgrade(req, socket, head); } catch (err) { thrown.push(err); }
    });
    const answer = await collectAnswer(port, '/');
    assert.equal(answer.split('HTTP/1.1 101').length - 1, 1, answer);
    assert.equal(thrown.length, 1);
    assert.match((thrown[0] as Error).message, /more than once/);
    wss.close();
    await closeHttp(httpServer);
  });
});

describe('option combinations that cannot work are refused', () => {
  test('heartbeatInterval without client tracking', () => {
    assert.throws(() => new WebSocketServer({ noServer: true, clientTracking: false, heartbeatInterval: 1000 }),
      (err: Error) => err instanceof TypeError && /clientTracking/.test(err.message) && /heartbeatInterval/.test(err.message));
    // Either alone is fine.
    new WebSocketServer({ noServer: true, clientTracking: false }).close();
    new WebSocketServer({ noServer: true, heartbeatInterval: 1000 }).close();
  });
});

describe('Sec-WebSocket-Protocol must be a list of unique tokens', () => {
  let httpServer: http.Server;
  let port: number;
  let wss: WebSocketServer;
  const asked: unknown[] = [];
  before(async () => {
    httpServer = http.createServer();
    port = await listen(httpServer);
    wss = new WebSocketServer({
      server: httpServer,
      handleProtocols: (protocols) => {
        asked.push(protocols);
        if (protocols.has('boom')) throw new Error('boom');
        return [...protocols][0] ?? false;
      },
    });
  });
  after(async () => {
    wss.close();
    await closeHttp(httpServer);
  });

  for (const value of ['a b, c', 'chat, chat', 'chat;v=2', 'a,b,a']) {
    test(`${JSON.stringify(value)}: 400 before handleProtocols is asked`, async () => {
      asked.length = 0;
      const answer = await rawHttp(port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': value }));
      assert.equal(answer.status, 400, answer.head);
      assert.match((JSON.parse(answer.body) as { error: string }).error, /Sec-WebSocket-Protocol/);
      assert.equal(answer.headers['sec-websocket-protocol'], undefined);
      assert.deepEqual(asked, []);
    });
  }

  test('a valid list is offered in order and one of it selected', async () => {
    asked.length = 0;
    const c = await RawClient.connect(port, '/', { 'Sec-WebSocket-Protocol': 'chat.v2 ,\tchat.v1' });
    assert.equal(c.headers['sec-websocket-protocol'], 'chat.v2');
    // A Set, as ws 8 gives it.
    assert.ok(asked[0] instanceof Set);
    assert.deepEqual(asked.map((p) => [...(p as Set<string>)]), [['chat.v2', 'chat.v1']]);
    c.destroy();
  });

  test('a handleProtocols that throws refuses with 500, and the server lives on', async () => {
    const escapes = watchForEscapes();
    try {
      const answer = await rawHttp(port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'chat, boom' }));
      assert.equal(answer.status, 500, answer.head);
      assert.equal(answer.headers['sec-websocket-accept'], undefined);
      await new Promise((r) => setImmediate(r));
      escapes.check();
    } finally {
      escapes.stop();
    }
    const c = await RawClient.connect(port, '/', { 'Sec-WebSocket-Protocol': 'chat' });
    assert.equal(c.headers['sec-websocket-protocol'], 'chat');
    c.destroy();
  });
});
