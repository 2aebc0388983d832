/**
 * The WebSocket object shows only its public API at run time: the frame
 * decoder's callbacks and the socket wiring live on a private connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket } from '../../src/websocket/websocket.js';
import { WebSocketServer } from '../../src/websocket/server.js';
import { connect } from '../../src/websocket/client.js';

const INTERNALS = [
  // The decoder's handler (FrameHandler).
  'onMessage', 'onPing', 'onPong', 'onClose', 'onError',
  // The socket wiring and the protocol machinery.
  'attach', 'receive', 'onDrain', 'onSocketEnd', 'onSocketClose', 'sendClose', 'finishClose', 'writeFrame',
  'enqueueSend', 'pumpSend', 'dropSendQueue', 'control', 'inflated', 'compressed',
];

test('WebSocket.prototype holds no decoder callbacks or other internals', () => {
  const names = Object.getOwnPropertyNames(WebSocket.prototype);
  for (const name of INTERNALS) assert.ok(!names.includes(name), `WebSocket.prototype.${name} is not public API`);
  for (const name of ['send', 'close', 'terminate', 'ping', 'pong', 'readyState', 'bufferedAmount', 'protocol', 'extensions']) {
    assert.ok(names.includes(name), `WebSocket.prototype.${name} is public API`);
  }
});

test('a WebSocket instance carries no protocol state of its own', () => {
  const ws = new WebSocket({ isServer: true });
  const own = Object.getOwnPropertyNames(ws).filter((name) => !name.startsWith('_')); // EventEmitter's _events, …
  assert.deepEqual(own, ['isAlive']);
  for (const name of [...INTERNALS, 'socket', 'decoder', 'deflate', 'sendQueue', 'closeSent', 'closeCode']) {
    assert.equal(name in ws, false, `ws.${name} is not public API`);
  }
});

test('ping and pong take ws\'s (data, mask, cb) as well as (data, cb)', { timeout: 10_000 }, async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const serverSide = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const ws = connect(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`);
  await once(ws, 'open');
  const peer = await serverSide;
  const pings: string[] = [];
  const pongs: string[] = [];
  peer.on('ping', (data) => pings.push(data.toString()));
  peer.on('pong', (data) => pongs.push(data.toString()));
  const sent = (call: (cb: (err?: Error | null) => void) => void) => new Promise<unknown>((resolve) => call(resolve));
  assert.equal(await sent((cb) => ws.ping('a', cb)) ?? null, null);
  assert.equal(await sent((cb) => ws.ping('b', true, cb)) ?? null, null);
  assert.equal(await sent((cb) => ws.pong('c', false, cb)) ?? null, null);
  ws.ping('d', true);
  // A message after them: frames arrive in order, so once it is in, so are they.
  ws.send('sentinel');
  await once(peer, 'message');
  assert.deepEqual(pings, ['a', 'b', 'd']);
  assert.deepEqual(pongs, ['c']);
  ws.close();
  await once(ws, 'close');
  await new Promise<void>((r) => wss.close(() => r()));
});
