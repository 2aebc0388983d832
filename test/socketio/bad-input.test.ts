/**
 * Bad and hostile input at /socket.io/ on the whole pushwire server: every
 * Engine.IO error answer, payloads over the limit, malformed and out-of-turn
 * packets, clients that never connect a namespace or never read. None of it
 * crashes the process or disturbs a client that behaves: one stays connected
 * throughout and still gets the chat at the end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  closeClients, Collector, connectSocket, openPolling, RawSocket, request, startPushwire, waitUntil, within,
  type ClientSocket, type Running,
} from './helpers.js';

let running: Running;
let base: string;
let wsBase: string;
let bystander: ClientSocket;
let bystanderChat: Collector<string>;

before(async () => {
  running = await startPushwire({ socketio: { connectTimeout: 300, maxHttpBufferSize: 10_000, maxBufferedBytes: 64 * 1024 } });
  base = `${running.base}/socket.io/`;
  wsBase = base.replace('http', 'ws');
  bystander = await connectSocket(running.base);
  bystanderChat = new Collector(bystander, 'chat message');
});

after(async () => {
  // The client that behaved was never disturbed: it still chats.
  const before = bystanderChat.items.length;
  bystander.emit('chat message', 'still here');
  const got = await bystanderChat.waitFor(before + 1);
  assert.equal(got[before], 'still here');
  assert.equal(bystander.connected, true);
  closeClients();
  await running.stop();
});

function json(body: string): unknown {
  return JSON.parse(body);
}

describe("Engine.IO's error answers: 400 with {code, message}", () => {
  test('unknown transport (0), unknown session id (1), bad handshake method (2), bad request (3), unsupported version (5)', async () => {
    const sid = await openPolling(base);
    const cases: Array<[string, string, number, string]> = [
      ['GET', '?EIO=4', 0, 'Transport unknown'],
      ['GET', '?EIO=4&transport=flash', 0, 'Transport unknown'],
      ['GET', '?EIO=4&transport=polling&sid=nosuchsession', 1, 'Session ID unknown'],
      ['POST', '?EIO=4&transport=polling&sid=nosuchsession', 1, 'Session ID unknown'],
      ['POST', '?EIO=4&transport=polling', 2, 'Bad handshake method'],
      ['PUT', '?EIO=4&transport=polling', 2, 'Bad handshake method'],
      ['DELETE', '?EIO=4&transport=polling', 2, 'Bad handshake method'],
      ['GET', '?EIO=4&transport=websocket', 3, 'Bad request'],
      ['GET', `?EIO=3&transport=polling&sid=${sid}`, 3, 'Bad request'],
      ['GET', `?EIO=4&transport=websocket&sid=${sid}`, 3, 'Bad request'],
      ['PUT', `?EIO=4&transport=polling&sid=${sid}`, 3, 'Bad request'],
      ['GET', '?transport=polling', 5, 'Unsupported protocol version'],
      ['GET', '?EIO=3&transport=polling', 5, 'Unsupported protocol version'],
      ['GET', '?EIO=5&transport=polling', 5, 'Unsupported protocol version'],
    ];
    for (const [method, query, code, message] of cases) {
      const answer = await request(base + query, { method });
      assert.equal(answer.status, 400, `${method} ${query}`);
      assert.match(answer.headers['content-type'] ?? '', /^application\/json/);
      assert.deepEqual(json(answer.body), { code, message }, `${method} ${query}`);
    }
  });

  test('refused upgrades get the same answers before any handshake', async () => {
    const sid = await openPolling(base);
    for (const [query, code] of [
      ['?EIO=4&transport=websocket&sid=nosuchsession', 1], ['?EIO=3&transport=websocket', 5], ['?transport=websocket', 5],
      ['?EIO=4&transport=polling', 3], ['?EIO=4&transport=nope', 0], [`?EIO=3&transport=websocket&sid=${sid}`, 3],
    ] as const) {
      const socket = new RawSocket(wsBase + query);
      await within(socket.closed, 3000, 'refusal');
      assert.equal(socket.refusal?.status, 400, query);
      assert.equal((json(socket.refusal!.body) as { code: number }).code, code, query);
    }
  });

  test('a malformed polling body, a binary body, bad UTF-8: 400 and the session is closed', async () => {
    for (const [body, headers] of [
      ['abc', {}], ['4hello\x1e', {}], ['bnot base64!', {}],
      [Buffer.from([0x34, 0xff, 0xfe]), {}],
      ['4hello', { 'Content-Type': 'application/octet-stream' }],
    ] as Array<[string | Buffer, Record<string, string>]>) {
      const sid = await openPolling(base);
      const answer = await request(`${base}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body, headers });
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal((json(answer.body) as { code: number }).code, 3);
      const after = await request(`${base}?EIO=4&transport=polling&sid=${sid}`);
      assert.equal(after.status, 400);
      assert.equal((json(after.body) as { code: number }).code, 1);
    }
  });
});

describe('payloads over the limit close the session', () => {
  test('a POST body over maxHttpBufferSize: 413, and the session is gone', async () => {
    const sid = await openPolling(base);
    const answer = await request(`${base}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '4' + 'x'.repeat(10_000) });
    assert.equal(answer.status, 413);
    assert.equal((await request(`${base}?EIO=4&transport=polling&sid=${sid}`)).status, 400);
  });

  test('a WebSocket message over maxHttpBufferSize: closed with 1009', async () => {
    const socket = new RawSocket(`${wsBase}?EIO=4&transport=websocket`);
    const open = JSON.parse((await socket.next() as string).slice(1));
    assert.equal(open.maxPayload, 10_000);
    socket.send('4' + 'x'.repeat(10_001));
    const { code } = await within(socket.closed, 3000, 'close');
    assert.equal(code, 1009);
  });
});

describe('malformed and out-of-turn packets', () => {
  const closing = [
    ['a packet type that does not exist', ['9']],
    ['an empty message', ['']],
    ['a Socket.IO packet that does not parse', ['4{']],
    ['an event before CONNECT', ['42["x"]']],
    ['CONNECT twice', ['40', '40']],
    ['a binary message nobody announced', [Buffer.from([1, 2, 3])]],
    ['text while attachments are due', ['40', '451-["x",{"_placeholder":true,"num":0}]', '42["y"]']],
    ['more attachments than allowed', ['40', '4511-["x"]']],
    ['a placeholder for an attachment that is not there', ['40', '451-["x",{"_placeholder":true,"num":7}]', Buffer.from([1])]],
    ['a reserved event name', ['40', '42["disconnect"]']],
    ['a heartbeat in the wrong direction', ['2']],
    ['CONNECT_ERROR from a client', ['40', '44{"message":"x"}']],
  ] as Array<[string, Array<string | Buffer>]>;
  for (const [what, messages] of closing) {
    test(`${what}: the connection is closed`, async () => {
      const socket = new RawSocket(`${wsBase}?EIO=4&transport=websocket`);
      await socket.next();
      for (const m of messages) socket.send(m);
      await within(socket.closed, 3000, 'close');
    });
  }

  test('an unknown namespace is refused with CONNECT_ERROR, and the connection stays', async () => {
    const socket = new RawSocket(`${wsBase}?EIO=4&transport=websocket`);
    await socket.next();
    socket.send('40/nope,');
    assert.equal(await socket.next(), '44/nope,{"message":"Invalid namespace"}');
    socket.send('40');
    assert.match(await socket.next() as string, /^40\{"sid":"[\w-]{20}","pid":"[\w-]{20}"\}$/);
    socket.close();
  });

  test('random bytes and random packets never crash the server', async () => {
    const alphabet = '0123456789[]{}",-/:abcx\x1e\u00e9';
    for (let round = 0; round < 40; round++) {
      const socket = new RawSocket(`${wsBase}?EIO=4&transport=websocket`);
      await socket.next();
      socket.send('40');
      for (let i = 0; i < 5; i++) {
        if (round % 3 === 0) socket.send(randomBytes(1 + (round % 17)));
        else {
          let text = '4';
          for (let j = 0; j < 1 + ((round * 7 + i) % 30); j++) text += alphabet[(round * 31 + i * 7 + j * 13) % alphabet.length];
          socket.send(text);
        }
      }
      socket.close();
      await within(socket.closed, 3000, 'close');
    }
    // Raw garbage instead of HTTP, and a handshake cut in the middle.
    for (const junk of [randomBytes(64), Buffer.from('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n')]) {
      const tcp = net.connect(Number(new URL(running.base).port), '127.0.0.1');
      await new Promise((resolve) => tcp.once('connect', resolve));
      await new Promise((resolve) => tcp.write(junk, resolve));
      tcp.destroy();
    }
  });
});

describe('application handlers that fail', () => {
  test('a handler that throws, or an async one that rejects, is logged; the connection and the server go on', async () => {
    const logged: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => { logged.push(args); };
    try {
      running.server.io.of('/fragile').on('connection', (socket) => {
        socket.on('throw', () => { throw new Error('thrown by a handler'); });
        socket.on('reject', async () => { throw new Error('rejected by a handler'); });
        socket.on('ping me', (ack: (a: string) => void) => ack('pong'));
      });
      const client = await connectSocket(`${running.base}/fragile`);
      client.emit('throw');
      client.emit('reject');
      assert.equal(await client.emitWithAck('ping me'), 'pong');
      await waitUntil(() => logged.length >= 2);
      const messages = logged.map((args) => String((args[1] as Error)?.message));
      assert.ok(messages.includes('thrown by a handler'), JSON.stringify(messages));
      assert.ok(messages.includes('rejected by a handler'), JSON.stringify(messages));
      assert.equal(client.connected, true);
      client.disconnect();
    } finally {
      console.error = original;
    }
  });
});

describe('clients that misbehave slowly', () => {
  test('a connection that joins no namespace within connectTimeout is closed', async () => {
    const socket = new RawSocket(`${wsBase}?EIO=4&transport=websocket`);
    await socket.next();
    const start = Date.now();
    await within(socket.closed, 3000, 'close');
    assert.ok(Date.now() - start >= 250, `closed after ${Date.now() - start} ms`);
  });

  test('a polling client that never polls while events pile up is let go at maxBufferedBytes', async () => {
    const sid = await openPolling(base);
    await request(`${base}?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '40' });
    // This session's socket in the namespace (a count of sockets would pass on others still there).
    await waitUntil(() => [...running.server.io.sockets.sockets.values()].some((socket) => socket.conn.id === sid));
    const big = 'y'.repeat(1000);
    const seen = bystanderChat.items.length;
    let published = 0;
    for (let i = 0; i < 100 && running.server.io.engine.session(sid) !== undefined; i++) {
      running.server.push.publish('chat', 'chat message', big);
      published++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitUntil(() => running.server.io.engine.session(sid) === undefined);
    // The bystander got them all (none still on the way when the final check counts its messages).
    await bystanderChat.waitFor(seen + published);
  });
});
