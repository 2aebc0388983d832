// Replays one schedule of the model-based check: `node build/test/client/replay.js SEED`.
import { createClient } from '../../src/client/core/client.js';
import { runSchedule } from './model.js';

const seed = Number(process.argv[2]);
if (!Number.isInteger(seed)) {
  process.stderr.write('usage: node build/test/client/replay.js SEED\n');
  process.exit(2);
}
const outcome = await runSchedule(createClient, seed);
process.stdout.write(`${outcome.ops.join('\n')}\n${outcome.ok ? 'ok' : outcome.problem}\n`);
process.exit(outcome.ok ? 0 : 1);
