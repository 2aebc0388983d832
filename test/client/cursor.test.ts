// The cursor rules of the browser client (src/client/core/cursor.ts), as vectors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectionCursors, follows, formatChannels, isNew, lowest, position } from '../../src/client/core/cursor.js';
import type { Message } from '../../src/client/core/types.js';

const m = (channel: string, id: number, event = 'x'): Message => ({ channel, id, event, data: null });

describe('a connection’s cursors', () => {
  test('each message is delivered with the position before it, and moves it', () => {
    const c = new ConnectionCursors(new Map([['a', 3]]));
    assert.deepEqual([4, 5, 6].map((id) => c.step(m('a', id))), [3, 4, 5]);
    assert.equal(c.carried.get('a'), 6);
  });

  test('an id at or below the position means the replay from an older cursor has begun', () => {
    const c = new ConnectionCursors(new Map([['a', 6]]));
    c.subscribed('a', 2);
    assert.equal(c.rewinding.get('a'), 2);
    assert.equal(c.step(m('a', 7)), 6, 'the old subscription goes on until the replay');
    assert.equal(c.step(m('a', 3)), 2);
    assert.equal(c.rewinding.has('a'), false);
    assert.equal(c.carried.get('a'), 3);
  });

  test('a gap has no position before it and sets the position to its id', () => {
    const c = new ConnectionCursors(new Map([['a', 3]]));
    assert.equal(c.step(m('a', 9, 'push:gap')), undefined);
    assert.equal(c.carried.get('a'), 9);
  });

  test('a channel it does not carry is not its to deliver', () => {
    const c = new ConnectionCursors(new Map([['a', 3]]));
    assert.equal(c.step(m('b', 1)), null);
    c.dropped('a');
    assert.equal(c.step(m('a', 4)), null);
  });

  test('a listener from an older cursor needs the channel again; one at or past it does not', () => {
    const c = new ConnectionCursors(new Map([['a', 5]]));
    assert.equal(c.needs('a', 5), false);
    assert.equal(c.needs('a', 9), false);
    assert.equal(c.needs('a', 4), true);
    assert.equal(c.needs('b', 0), true);
    c.subscribed('a', 2);
    assert.equal(c.needs('a', 3), false, 'already going back to 2');
    assert.equal(c.needs('a', 1), true);
  });
});

describe('a listener’s cursor', () => {
  test('takes a message only if it follows on from its cursor', () => {
    assert.equal(follows(5, 5), true);
    assert.equal(follows(7, 5), true, 'ahead: the id is then dropped as seen');
    assert.equal(follows(4, 5), false, 'behind: taking it would skip id 5');
    assert.equal(follows(0, undefined), true, 'a gap reaches everyone');
  });

  test('never twice; a gap is always news', () => {
    assert.equal(isNew(null, m('a', 1)), true);
    assert.equal(isNew(4, m('a', 5)), true);
    assert.equal(isNew(5, m('a', 5)), false);
    assert.equal(isNew(9, m('a', 3, 'push:gap')), true);
  });

  test('counts what it holds while a gap reloads the state, gaps aside', () => {
    assert.equal(position(null, null), 0);
    assert.equal(position(4, [m('a', 6), m('a', 5)]), 6);
    assert.equal(position(4, [m('a', 9, 'push:gap')]), 4);
  });

  test('a connection opens from the lowest cursor of a channel', () => {
    assert.equal(lowest([7, 3, 5]), 3);
    assert.equal(lowest([]), Infinity);
  });

  test('the channels of a request: NAME@N, escaped', () => {
    assert.equal(formatChannels(new Map([['a', 12], ['b,c@', 0]])), 'a@12,b%2Cc%40@0');
  });
});
