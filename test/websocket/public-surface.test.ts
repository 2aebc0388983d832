/**
 * The WebSocket object shows only its public API at run time: the frame
 * decoder's callbacks and the socket wiring live on a private connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from '../../src/websocket/websocket.js';

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
