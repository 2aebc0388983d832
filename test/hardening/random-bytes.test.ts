/**
 * Random bytes at every endpoint, with a fixed seed (HARDENING_SEED=n to vary):
 * noise, broken request lines, hostile headers, bodies that are almost JSON,
 * and upgrades followed by garbage frames. Every connection is answered or
 * closed, never with a 5xx; the server logs no failure and does not crash;
 * its connections come back to none; a well-behaved client is served
 * throughout. `npm run fuzz` runs the same with far more inputs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { metric, rawExchange, scrapeUntil, startServer, whileServing, type Server } from './helpers.js';
import { answerProblem, ENDPOINTS, prng, randomRequest, SHAPES, type RandomRequest } from './random-requests.js';

const SEED = Number(process.env.HARDENING_SEED ?? 0x15);
const PER_ENDPOINT_AND_SHAPE = 6;
const CONCURRENCY = 24;

let s: Server;
// A short head deadline, so that inputs that never finish a head do not hold the test.
before(async () => { s = await startServer(['--headers-timeout', '1000']); });
after(() => s.stop());

test(`random input at every endpoint (seed ${SEED}): answered or closed, never a 5xx, no crash, no leak`, async (t) => {
  const rand = prng(SEED);
  const cases: RandomRequest[] = [];
  for (const endpoint of ENDPOINTS) {
    for (const shape of SHAPES) {
      for (let i = 0; i < PER_ENDPOINT_AND_SHAPE; i++) cases.push(randomRequest(rand, endpoint, shape));
    }
  }
  const statuses = new Map<string, number>();
  const problems: string[] = [];
  await whileServing(t, s.base, `${cases.length} random requests`, async () => {
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const index = next++;
        const request = cases[index]!;
        // The client ends its side after writing: the server must then answer or close, and not hold on.
        const answer = await rawExchange(s.port, request.bytes, { end: true, timeout: 10_000 }).catch((err: Error) => ({ error: err.message }));
        if ('error' in answer) {
          problems.push(`case ${index} (${request.shape}): ${answer.error}`);
          continue;
        }
        const key = answer.status === null ? 'closed' : String(answer.status);
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        const problem = answerProblem(request, answer.status, answer.json);
        if (problem) problems.push(`case ${index} (${request.shape}, ${JSON.stringify(request.bytes.toString('latin1').slice(0, 60))}): ${problem}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  });
  t.diagnostic(`answers: ${[...statuses].sort().map(([k, v]) => `${k}×${v}`).join(' ')}`);
  assert.deepEqual(problems, []);
  assert.equal(s.child.exitCode, null, 'the server is still running');
  assert.doesNotMatch(s.stderr(), /failed|Error|at /, 'the server logged no failure');
  await scrapeUntil(s.base, (text) => metric(text, 'pushwire_connections_open') === 1, 'every random connection closed');
});
