// The connection's phases (src/client/core/connection-states.ts): the table read as vectors,
// and walks through it as the hub takes them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  PROBE_TRANSITIONS, SHOWN, TRANSITIONS,
  type ConnectionEvent, type Phase, type ProbeEvent, type ProbePhase,
} from '../../src/client/core/connection-states.js';

const transition = (phase: Phase, event: ConnectionEvent) => TRANSITIONS[phase][event] ?? null;
const probeTransition = (phase: ProbePhase, event: ProbeEvent) => PROBE_TRANSITIONS[phase][event] ?? null;

function walk(events: ConnectionEvent[], from: Phase = 'idle'): (Phase | null)[] {
  let phase: Phase = from;
  return events.map((e) => {
    const row = transition(phase, e);
    if (row) phase = row[0];
    return row ? phase : null;
  });
}

describe('connection phases', () => {
  test('a healthy life: start, open, lost, wait, open again, close', () => {
    assert.deepEqual(walk(['start', 'opened', 'lost', 'due', 'opened', 'close']), ['connecting', 'open', 'retrying', 'connecting', 'open', 'closed']);
  });

  test('a technique that never opens: the server is asked, then it falls back', () => {
    assert.deepEqual(walk(['start', 'refused', 'down', 'due', 'refused', 'blamed', 'opened']), ['connecting', 'checking', 'retrying', 'connecting', 'checking', 'connecting', 'open']);
    assert.deepEqual(transition('checking', 'blamed'), ['connecting', 'fallBack', 'open']);
  });

  test('stale events change nothing: a timer or an answer for a phase already left', () => {
    assert.equal(transition('open', 'due'), null);
    assert.equal(transition('retrying', 'opened'), null);
    assert.equal(transition('connecting', 'down'), null);
    assert.equal(transition('idle', 'opened'), null);
    for (const e of ['start', 'opened', 'lost', 'close'] as ConnectionEvent[]) assert.equal(transition('closed', e), null);
  });

  test('every phase but closed can close, and closing stops and releases', () => {
    for (const phase of Object.keys(TRANSITIONS) as Phase[]) {
      if (phase === 'closed') continue;
      const row = transition(phase, 'close');
      assert.ok(row, phase);
      assert.equal(row[0], 'closed');
      assert.ok(row.includes('stop') && row.includes('release'), phase);
    }
  });

  test('a lost connection stops its probe too; a reshape re-opens from the cursors', () => {
    assert.deepEqual(transition('open', 'lost'), ['retrying', 'stop', 'stopProbe', 'wait']);
    assert.deepEqual(transition('open', 'reshape'), ['connecting', 'stop', 'open']);
    assert.deepEqual(transition('open', 'promoted'), ['open', 'stop', 'takeProbe', 'healthy']);
  });

  test('what the status shows: checking is still retrying; idle is connecting', () => {
    assert.equal(SHOWN.checking, 'retrying');
    assert.equal(SHOWN.idle, 'connecting');
  });
});

describe('the probe back to the first technique', () => {
  test('planned, probing, then it takes over; a failure or a reshape plans it again', () => {
    assert.deepEqual(probeTransition('none', 'plan'), ['planned', 'timer']);
    assert.deepEqual(probeTransition('planned', 'due'), ['probing', 'openProbe']);
    assert.deepEqual(probeTransition('probing', 'failed'), ['planned', 'stopProbe', 'timer']);
    assert.deepEqual(probeTransition('probing', 'reshape'), ['planned', 'stopProbe', 'timer']);
    assert.deepEqual(probeTransition('probing', 'opened'), ['none']);
    assert.deepEqual(probeTransition('planned', 'skip'), ['none']);
  });

  test('nothing to reshape or stop when nothing is planned', () => {
    assert.equal(probeTransition('none', 'reshape'), null);
    assert.equal(probeTransition('none', 'stop'), null);
    assert.equal(probeTransition('planned', 'plan'), null);
  });
});
