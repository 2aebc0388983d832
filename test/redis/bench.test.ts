import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisSkip } from './redis-server.js';

// build/test/redis/ -> build/bench/run.js
const RUN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js');

/** The Redis bench at tiny counts: it runs, and every row holds a positive figure for both logs. */
test('bench --only=redis prints the Redis log beside the memory log', { skip: redisSkip(), timeout: 60_000 }, async () => {
  // A hung bench is killed before the test's own timeout, so it cannot outlive the run.
  const child = spawn(process.execPath, [RUN, '--only=redis', '--scale=0.002'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 50_000 });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, out);
  assert.match(out, /## Redis channel log/);
  const units: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9 };
  for (const name of ['publish, 64 in flight', 'publish ack, one at a time', 'publish ack: p99', 'publish to delivery on the other server: p50', 'publish to delivery on the other server: p99',
    'end to end: POST /push/emit', 'fan-out, 100 WebSockets, half on A, half on B', "fan-out: A's p99"]) {
    const line = out.split('\n').find((l) => l.startsWith(name));
    assert.ok(line, `row ${name}\n${out}`);
    // Columns are at least two spaces apart: name, unit, ours, memory, ratio.
    const cells = line.split(/\s{2,}/);
    for (const cell of [cells[2]!, cells[3]!]) {
      const m = /^([\d.]+)([kMG]?)$/.exec(cell);
      assert.ok(m && Number(m[1]) * (units[m[2]!] ?? 1) > 0, `row ${name}: ${cell} is not a positive figure\n${line}`);
    }
  }
  // B's rows have no memory column: one server has no other server.
  for (const name of ["fan-out: B's p50", "fan-out: B's p99"]) {
    const line = out.split('\n').find((l) => l.startsWith(name));
    assert.ok(line, `row ${name}\n${out}`);
    assert.match(line.split(/\s{2,}/)[2]!, /^[\d.]+[kMG]?$/, line);
  }
});
