/**
 * `npm run bench`: every bench, ours beside ws, in one run. Options:
 * `--scale=N` (or BENCH_SCALE) scales counts and durations (the smoke test
 * uses a tiny one); `--only=codec,echo,memory,fanout,fanout-burst,fanout-socketio,deflate,redis,windows` picks some.
 */
import { cpus } from 'node:os';
import { benchScale, hasBufferutil } from './lib.js';
import * as codec from './codec.js';
import * as echo from './echo.js';
import * as memory from './memory.js';
import * as fanout from './fanout.js';
import * as deflate from './deflate.js';
import * as redis from './redis.js';
import * as windows from './windows.js';

const all: Record<string, { run(): Promise<void> }> = { codec, echo, memory, fanout, 'fanout-burst': { run: fanout.runBurst }, 'fanout-socketio': { run: fanout.runSocketIo }, deflate, redis, windows };
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const names = only ?? Object.keys(all);
for (const name of names) if (!all[name]) throw new Error(`unknown bench ${name}; have ${Object.keys(all).join(', ')}`);

process.stdout.write(`pushwire bench: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ` +
  `scale ${benchScale()}, bufferutil ${hasBufferutil() ? 'installed' : 'not installed'}\n`);
process.stdout.write('ratio column: ours / ws (higher is better for rates, lower for costs); target column: the goal set for that figure\n');
const started = Date.now();
for (const name of names) {
  const t = Date.now();
  await all[name]!.run();
  process.stdout.write(`(${name}: ${((Date.now() - t) / 1000).toFixed(1)} s)\n`);
}
process.stdout.write(`\ntotal ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
