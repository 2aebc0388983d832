// The model-based check of the browser client's core (test/client/model.ts): 10,000 seeded
// schedules in every run. A failure names its seed: `node build/test/client/replay.js SEED`
// prints the schedule and what the listener saw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from '../../src/client/core/client.js';
import { runSchedule, type Coverage } from './model.js';

const SCHEDULES = Number(process.env.PUSHWIRE_SCHEDULES) || 10_000;

test(`${SCHEDULES} random schedules: every listener gets each id once and in order, or a gap, and catches up`, async (t) => {
  let delivered = 0;
  const reached: Record<keyof Coverage, number> = { fallbacks: 0, upgrades: 0, gaps: 0, reloads: 0, takeovers: 0, followers: 0 };
  for (let seed = 1; seed <= SCHEDULES; seed++) {
    const outcome = await runSchedule(createClient, seed);
    assert.ok(outcome.ok, `seed ${seed}: ${outcome.problem}\n${outcome.ops.join('\n')}`);
    delivered += outcome.delivered;
    for (const key of Object.keys(reached) as (keyof Coverage)[]) if (outcome.seen[key] > 0) reached[key]++;
  }
  // The schedules reach what they are meant to test: a model that never got there would pass vacuously.
  assert.ok(delivered > SCHEDULES * 10, `only ${delivered} deliveries in ${SCHEDULES} schedules`);
  for (const [key, schedules] of Object.entries(reached)) {
    assert.ok(schedules >= SCHEDULES / 50, `only ${schedules} of ${SCHEDULES} schedules had ${key}`);
  }
  t.diagnostic(`schedules with each: ${JSON.stringify(reached)}; ${delivered} deliveries`);
});
