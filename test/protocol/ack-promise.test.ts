/**
 * emitWithAck's promise, shared by the server's sockets and the browser
 * client's: the first answer without a timeout, `(err, answer)` with one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ackPromise } from '../../src/protocol/ack-promise.js';

test('without a timeout the first argument of the answer is the value', async () => {
  let sent: ((first: unknown, second?: unknown) => void) | undefined;
  const answer = ackPromise((ack) => { sent = ack; }, undefined);
  assert.equal(typeof sent, 'function', 'emit is called at once, with the callback');
  sent!({ ok: true }, 'ignored');
  assert.deepEqual(await answer, { ok: true });
  // A falsy answer is an answer, not an error.
  assert.equal(await ackPromise((ack) => ack(0), undefined), 0);
});

test('with a timeout the callback is (err, answer): null resolves, an error rejects', async () => {
  assert.equal(await ackPromise((ack) => ack(null, 'pong'), 1000), 'pong');
  const err = new Error('operation has timed out');
  await assert.rejects(ackPromise((ack) => ack(err), 1000), err);
});
