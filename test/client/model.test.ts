// The model-based check of the browser client's core (test/client/model.ts): 10,000 seeded
// schedules in every run. A failure names its seed: `node build/test/client/replay.js SEED`
// prints the schedule and what the listener saw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from '../../src/client/core/client.js';
import { runSchedule } from './model.js';

const SCHEDULES = Number(process.env.PUSHWIRE_SCHEDULES) || 10_000;

test(`${SCHEDULES} random schedules: every listener gets each id once and in order, or a gap, and catches up`, async () => {
  let delivered = 0;
  for (let seed = 1; seed <= SCHEDULES; seed++) {
    const outcome = await runSchedule(createClient, seed);
    assert.ok(outcome.ok, `seed ${seed}: ${outcome.problem}\n${outcome.ops.join('\n')}`);
    delivered += outcome.delivered;
  }
  // The schedules deliver: a model that never reached a listener would pass vacuously.
  assert.ok(delivered > SCHEDULES * 10, `only ${delivered} deliveries in ${SCHEDULES} schedules`);
});
