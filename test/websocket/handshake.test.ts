/**
 * The opening handshake over real sockets: the RFC sample key, every
 * bad-request case of docs/PROTOCOL.md §1.1 (status, JSON body, no upgrade, socket
 * closed), subprotocol selection, verifyClient, and a WebSocketServer
 * attached to an existing http.Server by path.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsClient } from 'ws';
import { RawClient, rawHttp, startServer, upgradeRequest, type HttpAnswer, type TestServer } from './raw-client.js';
import { WebSocketServer } from '../../src/websocket/server.js';
import { connect } from '../../src/websocket/client.js';
import type { WebSocket } from '../../src/websocket/websocket.js';

let server: TestServer;
before(async () => { server = await startServer(); });
after(async () => { await server.close(); });

function assertRefused(answer: HttpAnswer, statuses: number[]): void {
  assert.ok(statuses.includes(answer.status), `status ${answer.status}, expected ${statuses.join(' or ')}: ${answer.head}`);
  assert.equal(answer.headers['sec-websocket-accept'], undefined, 'a refused handshake must not carry Sec-WebSocket-Accept');
  // (A 426 names the protocol to upgrade to in its Upgrade header, RFC 9110 §15.5.22.)
  if (answer.status !== 426) assert.notEqual(answer.headers.upgrade?.toLowerCase(), 'websocket', 'no Upgrade: websocket on a refusal');
  assert.match(answer.headers['content-type'] ?? '', /application\/json/);
  const body = JSON.parse(answer.body) as { error?: unknown };
  assert.equal(typeof body.error, 'string');
}

async function listen(s: http.Server): Promise<number> {
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return (s.address() as AddressInfo).port;
}

describe('opening handshake at /echo', () => {
  test('RFC 6455 §1.3 sample key gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo= over the wire', async () => {
    const c = await RawClient.connect(server.port, '/echo', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' });
    assert.equal(c.status, 101);
    assert.equal(c.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.equal(c.headers.upgrade?.toLowerCase(), 'websocket');
    assert.match(c.headers.connection ?? '', /upgrade/i);
    assert.equal(c.headers['sec-websocket-protocol'], undefined, '/echo negotiates no subprotocol');
    c.destroy();
  });

  test('/echo selects no subprotocol even when some are offered', async () => {
    const c = await RawClient.connect(server.port, '/echo', { 'Sec-WebSocket-Protocol': 'chat, superchat' });
    assert.equal(c.headers['sec-websocket-protocol'], undefined);
    c.destroy();
  });

  test('the Connection token list is accepted in any case and position', async () => {
    for (const value of ['keep-alive, UPGRADE', 'Upgrade', 'upgrade', 'foo,bar , Upgrade ,baz']) {
      const c = await RawClient.connect(server.port, '/echo', { Connection: value });
      assert.equal(c.status, 101, value);
      c.destroy();
    }
  });

  test('Upgrade: WebSocket is matched case-insensitively', async () => {
    const c = await RawClient.connect(server.port, '/echo', { Upgrade: 'WebSocket' });
    assert.equal(c.status, 101);
    c.destroy();
  });

  test('a query string on /echo does not matter', async () => {
    const c = await RawClient.connect(server.port, '/echo?x=1');
    assert.equal(c.status, 101);
    c.destroy();
  });

  const cases: Array<[string, string, number[]]> = [
    ['missing Sec-WebSocket-Key', upgradeRequest('/echo', { 'Sec-WebSocket-Key': null }), [400]],
    ['empty Sec-WebSocket-Key', upgradeRequest('/echo', { 'Sec-WebSocket-Key': '' }), [400]],
    ['Sec-WebSocket-Key not base64', upgradeRequest('/echo', { 'Sec-WebSocket-Key': 'this is not base64!!!!==' }), [400]],
    ['Sec-WebSocket-Key of 15 bytes', upgradeRequest('/echo', { 'Sec-WebSocket-Key': Buffer.alloc(15, 1).toString('base64') }), [400]],
    ['Sec-WebSocket-Key of 17 bytes', upgradeRequest('/echo', { 'Sec-WebSocket-Key': Buffer.alloc(17, 1).toString('base64') }), [400]],
    ['Sec-WebSocket-Key without padding', upgradeRequest('/echo', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ' }), [400]],
    ['Sec-WebSocket-Version: 8', upgradeRequest('/echo', { 'Sec-WebSocket-Version': '8' }), [426]],
    ['Sec-WebSocket-Version: 12', upgradeRequest('/echo', { 'Sec-WebSocket-Version': '12' }), [426]],
    ['Sec-WebSocket-Version: 14', upgradeRequest('/echo', { 'Sec-WebSocket-Version': '14' }), [426]],
    ['missing Sec-WebSocket-Version', upgradeRequest('/echo', { 'Sec-WebSocket-Version': null }), [400]],
    ['POST', upgradeRequest('/echo', {}, 'POST'), [405]],
    ['PUT', upgradeRequest('/echo', {}, 'PUT'), [405]],
    ['missing Upgrade header', upgradeRequest('/echo', { Upgrade: null }), [426]],
    ['Upgrade: h2c', upgradeRequest('/echo', { Upgrade: 'h2c' }), [426]],
    ['Connection without the Upgrade token', upgradeRequest('/echo', { Connection: 'keep-alive' }), [400]],
    ['missing Connection header', upgradeRequest('/echo', { Connection: null }), [400]],
    ['HTTP/1.0', upgradeRequest('/echo').replace('HTTP/1.1', 'HTTP/1.0'), [400]],
    ['missing Host header', upgradeRequest('/echo', { Host: null }), [400]],
    ['an unknown path', upgradeRequest('/nowhere'), [404]],
  ];
  // Requests node's HTTP parser does not even take as upgrades (no Upgrade header, or no
  // Connection: upgrade) are plain requests: answered with an error, the connection may stay alive.
  const plain = new Set(['missing Upgrade header', 'Connection without the Upgrade token', 'missing Connection header']);
  for (const [name, request, statuses] of cases) {
    test(`${name} → ${statuses.join(' or ')}, no upgrade${plain.has(name) ? '' : ', socket closed'}`, async () => {
      const answer = await rawHttp(server.port, request);
      assertRefused(answer, statuses);
      if (!plain.has(name)) assert.equal(answer.closed, true, 'a refused upgrade closes the socket');
      if (statuses[0] === 426 && name.includes('Version')) assert.equal(answer.headers['sec-websocket-version'], '13');
    });
  }

  test('426 for another version names version 13 exactly', async () => {
    const answer = await rawHttp(server.port, upgradeRequest('/echo', { 'Sec-WebSocket-Version': '8' }));
    assert.equal(answer.status, 426);
    assert.equal(answer.headers['sec-websocket-version'], '13');
  });

  test('a plain GET /echo (no upgrade at all) gets an HTTP error, not a crash', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/echo`);
    assert.equal(res.status, 426);
    assert.equal(typeof ((await res.json()) as { error: unknown }).error, 'string');
  });

  test('garbage instead of a request gets 400 and the server keeps serving', async () => {
    const answer = await rawHttp(server.port, 'GARBAGE\x00\x01\r\n\r\n');
    assert.equal(answer.status, 400);
    const c = await RawClient.connect(server.port);
    c.destroy();
  });

  test('frames sent in the same packet as the handshake are processed', async () => {
    // The client is allowed to send its first frame right behind the request (the "head" buffer).
    const { frame, OP } = await import('./raw-client.js');
    const net = await import('node:net');
    const socket = net.connect(server.port, '127.0.0.1');
    const got: Buffer[] = [];
    socket.on('data', (c: Buffer) => got.push(c));
    socket.write(Buffer.concat([Buffer.from(upgradeRequest('/echo')), frame({ opcode: OP.text, payload: 'early' })]));
    const deadline = Date.now() + 2000;
    while (!Buffer.concat(got).includes('early') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    assert.ok(Buffer.concat(got).includes('early'), 'the early frame was echoed');
  });
});

describe('WebSocketServer handshake options', () => {
  let httpServer: http.Server;
  let port: number;
  const servers: WebSocketServer[] = [];
  before(async () => {
    httpServer = http.createServer((_req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('plain http'); });
    port = await listen(httpServer);
    const chat = new WebSocketServer({
      server: httpServer,
      path: '/chat',
      handleProtocols: (protocols) => (protocols.has('chat.v2') ? 'chat.v2' : protocols.has('evil') ? 'not-offered' : false),
    });
    chat.on('connection', (ws: WebSocket) => ws.send(`protocol=${ws.protocol}`));
    const guarded = new WebSocketServer({
      server: httpServer,
      path: '/guarded',
      verifyClient: (req) => req.headers.origin === 'http://good.example',
    });
    guarded.on('connection', (ws: WebSocket) => ws.send('welcome'));
    const asyncGuard = new WebSocketServer({
      server: httpServer,
      path: '/async',
      verifyClient: async (req) => {
        await new Promise((r) => setTimeout(r, 5));
        if (req.headers.authorization === 'Bearer ok') return true;
        if (req.headers.authorization === 'Bearer throw') throw new Error('boom');
        return { status: 401, message: 'who are you?' };
      },
    });
    asyncGuard.on('connection', (ws: WebSocket) => ws.send('authorized'));
    servers.push(chat, guarded, asyncGuard);
  });
  after(async () => {
    for (const s of servers) s.close();
    httpServer.closeAllConnections();
    await new Promise((r) => httpServer.close(r));
  });

  test('handleProtocols picks a subprotocol from the client\'s list', async () => {
    const c = await RawClient.connect(port, '/chat', { 'Sec-WebSocket-Protocol': 'chat.v1, chat.v2' });
    assert.equal(c.headers['sec-websocket-protocol'], 'chat.v2');
    assert.equal((await c.nextFrame()).payload.toString(), 'protocol=chat.v2');
    c.destroy();
  });

  test('a falsy answer from handleProtocols selects none', async () => {
    const c = await RawClient.connect(port, '/chat', { 'Sec-WebSocket-Protocol': 'chat.v1' });
    assert.equal(c.headers['sec-websocket-protocol'], undefined);
    assert.equal((await c.nextFrame()).payload.toString(), 'protocol=');
    c.destroy();
  });

  test('a protocol the client did not offer is never selected', async () => {
    const c = await RawClient.connect(port, '/chat', { 'Sec-WebSocket-Protocol': 'evil' });
    assert.equal(c.headers['sec-websocket-protocol'], undefined);
    c.destroy();
  });

  test('our client gets the selected subprotocol, and ws does too', async () => {
    const ours = connect(`ws://127.0.0.1:${port}/chat`, { protocols: ['chat.v1', 'chat.v2'] });
    const [data] = await once(ours, 'message') as [Buffer];
    assert.equal(ours.protocol, 'chat.v2');
    assert.equal(data.toString(), 'protocol=chat.v2');
    ours.close(1000);
    await once(ours, 'close');
    const theirs = new WsClient(`ws://127.0.0.1:${port}/chat`, ['chat.v2'], { perMessageDeflate: false });
    await once(theirs, 'open');
    assert.equal(theirs.protocol, 'chat.v2');
    theirs.close();
    await once(theirs, 'close');
  });

  test('verifyClient returning false refuses with 403 and no upgrade', async () => {
    const answer = await rawHttp(port, upgradeRequest('/guarded', { Origin: 'http://evil.example' }));
    assertRefused(answer, [403]);
  });

  test('verifyClient returning true lets the upgrade through', async () => {
    const c = await RawClient.connect(port, '/guarded', { Origin: 'http://good.example' });
    assert.equal((await c.nextFrame()).payload.toString(), 'welcome');
    c.destroy();
  });

  test('an async verifyClient can refuse with its own status, and a throw gives 500', async () => {
    assertRefused(await rawHttp(port, upgradeRequest('/async', { Authorization: 'Bearer no' })), [401]);
    assertRefused(await rawHttp(port, upgradeRequest('/async', { Authorization: 'Bearer throw' })), [500]);
    const c = await RawClient.connect(port, '/async', { Authorization: 'Bearer ok' });
    assert.equal((await c.nextFrame()).payload.toString(), 'authorized');
    c.destroy();
  });

  test('the http.Server still answers plain requests; an upgrade on another path is refused', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/chat`);
    assert.equal(await res.text(), 'plain http');
    const answer = await rawHttp(port, upgradeRequest('/elsewhere'));
    assert.ok(answer.status >= 400 && answer.status < 500, String(answer.status));
    assert.equal(answer.headers['sec-websocket-accept'], undefined);
  });

  test('a WebSocketServer can create and listen on its own server', async () => {
    const own = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(own, 'listening');
    own.on('connection', (ws: WebSocket) => ws.send('own server'));
    const ownPort = (own.address() as AddressInfo).port;
    const c = await RawClient.connect(ownPort, '/anything');
    assert.equal((await c.nextFrame()).payload.toString(), 'own server');
    const res = await fetch(`http://127.0.0.1:${ownPort}/`);
    assert.equal(res.status, 426);
    await res.text();
    c.destroy();
    await new Promise<void>((r) => own.close(() => r()));
  });
});
