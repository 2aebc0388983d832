/**
 * The request-head deadline with mocked timers: exact to the millisecond for
 * the default 30 s, re-armed after each exchange of a kept-alive connection,
 * never while a request is in flight.
 */
import { afterEach, beforeEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { OPERATION_DEFAULTS } from '../../src/config.js';
import { HeadTimeouts } from '../../src/http/head-timeout.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

/** A stand-in for a net.Socket: a Duplex with the byte count the deadline reads. */
function fakeSocket(): Duplex & { bytesRead: number } {
  const socket = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } }) as Duplex & { bytesRead: number };
  socket.bytesRead = 0;
  return socket;
}

function watch(ms: number) {
  const expired: { idle: boolean }[] = [];
  const heads = new HeadTimeouts(ms, (_socket, idle) => expired.push({ idle }));
  return { heads, expired };
}

test('the default deadline is 30 s and a connection that sends no complete head is expired at exactly 30 s', () => {
  // Node's own check alone would expire it between headersTimeout and headersTimeout plus
  // its checking interval (30 to 35 s with 5 s); the per-connection timer has no such interval.
  assert.equal(OPERATION_DEFAULTS.headersTimeout, 30_000);
  const { heads, expired } = watch(OPERATION_DEFAULTS.headersTimeout);
  const socket = fakeSocket();
  heads.start(socket);
  socket.bytesRead = 37; // part of a head: it does not matter
  mock.timers.tick(29_999);
  assert.equal(expired.length, 0);
  mock.timers.tick(1);
  assert.deepEqual(expired, [{ idle: false }]);
});

test('no deadline while a request is served; the next head is due a full period after the exchange ends', () => {
  const { heads, expired } = watch(1000);
  const socket = fakeSocket();
  heads.start(socket);
  mock.timers.tick(900);
  heads.headReceived(socket);
  mock.timers.tick(60_000); // a long poll held for a minute
  assert.equal(expired.length, 0);
  socket.bytesRead = 100;
  heads.exchangeDone(socket);
  mock.timers.tick(999);
  assert.equal(expired.length, 0);
  mock.timers.tick(1);
  assert.deepEqual(expired, [{ idle: true }], 'nothing of a next request came: idle');
});

test('a kept-alive connection that started its next head is expired as a slow head, not as idle', () => {
  const { heads, expired } = watch(1000);
  const socket = fakeSocket();
  heads.start(socket);
  heads.headReceived(socket);
  socket.bytesRead = 80;
  heads.exchangeDone(socket);
  socket.bytesRead = 81; // "G"
  mock.timers.tick(1000);
  assert.deepEqual(expired, [{ idle: false }]);
});

test('pipelined requests: the deadline starts again only when the last one in flight is answered', () => {
  const { heads, expired } = watch(1000);
  const socket = fakeSocket();
  heads.start(socket);
  heads.headReceived(socket);
  heads.headReceived(socket);
  heads.exchangeDone(socket);
  mock.timers.tick(5000);
  assert.equal(expired.length, 0, 'one request still in flight');
  heads.exchangeDone(socket);
  mock.timers.tick(1000);
  assert.equal(expired.length, 1);
});

test('a closed or ending connection is not expired; a shorter grace can be given at the start', () => {
  const { heads, expired } = watch(1000);
  const closed = fakeSocket();
  heads.start(closed);
  heads.stop(closed);
  const ended = fakeSocket();
  heads.start(ended);
  ended.end();
  const destroyed = fakeSocket();
  heads.start(destroyed);
  destroyed.destroy();
  const refused = fakeSocket();
  heads.start(refused, 100);
  mock.timers.tick(100);
  assert.equal(expired.length, 1, 'the short grace');
  mock.timers.tick(10_000);
  assert.equal(expired.length, 1);
});
