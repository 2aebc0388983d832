/** The process-wide bound on zlib jobs: FIFO, at most `concurrency` at once, and never wedged by a job that throws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZlibLimiter } from '../../src/websocket/zlib-limiter.js';

test('jobs start in order, at most `concurrency` at a time', () => {
  const limiter = new ZlibLimiter(2);
  const started: number[] = [];
  for (let i = 0; i < 5; i++) limiter.add(() => { started.push(i); });
  assert.deepEqual(started, [0, 1]);
  assert.equal(limiter.waiting, 3);
  limiter.done();
  assert.deepEqual(started, [0, 1, 2]);
  limiter.done();
  limiter.done();
  limiter.done();
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  limiter.done();
  assert.equal(limiter.running, 0);
  assert.equal(limiter.waiting, 0);
});

test('a job that throws reaches the caller, frees its slot, and later jobs still run', () => {
  const limiter = new ZlibLimiter(1);
  assert.throws(() => limiter.add(() => { throw new Error('job failed'); }), /job failed/);
  assert.equal(limiter.running, 0, 'a job that threw did not start: its slot is free');
  let ran = false;
  limiter.add(() => { ran = true; limiter.done(); });
  assert.equal(ran, true, 'the limiter must not stay stuck after a throw');
  assert.equal(limiter.running, 0);
});

test('a throw while draining does not stop the jobs queued behind it', () => {
  const limiter = new ZlibLimiter(2);
  const started: string[] = [];
  limiter.add(() => { started.push('a'); });
  limiter.add(() => { started.push('b'); });
  limiter.add(() => { started.push('c'); throw new Error('c failed'); });
  limiter.add(() => { started.push('d'); });
  limiter.add(() => { started.push('e'); });
  assert.deepEqual(started, ['a', 'b']);
  // a finishes: c takes its slot and throws, so d takes it too; the error goes to the caller of done().
  assert.throws(() => limiter.done(), /c failed/);
  assert.deepEqual(started, ['a', 'b', 'c', 'd']);
  assert.equal(limiter.running, 2);
  limiter.done();
  assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
  limiter.done();
  limiter.done();
  assert.equal(limiter.running, 0);
  assert.equal(limiter.waiting, 0);
});

test('a job may call done() synchronously without recursion', () => {
  const limiter = new ZlibLimiter(1);
  let count = 0;
  for (let i = 0; i < 10_000; i++) limiter.add(() => { count++; limiter.done(); });
  assert.equal(count, 10_000);
  assert.equal(limiter.running, 0);
});
