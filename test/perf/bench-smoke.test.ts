import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// build/test/perf/ -> build/bench/run.js
const RUN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js');

/**
 * Runs every bench script with tiny counts, so that the bench cannot rot:
 * each must finish, print its table and exit 0. The figures are not checked.
 */
test('every bench script runs end to end with tiny counts', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, [RUN, '--scale=0.002'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, `bench exited with ${code}\n${out}\n${err}`);
  for (const title of ['## Decode', '## Encode', '## Mask/unmask', '## Echo end to end', '## Memory', '## Fan-out']) {
    assert.ok(out.includes(title), `missing table ${title}\n${out}`);
  }
  for (const row of ['decode 16 B vs ws JS', 'decode 1 MiB', 'encode 125 B Buffer', 'ours JS vs ws JS',
    'echo 64 KiB: server CPU/msg', 'RSS per idle WebSocket', 'RSS per SSE stream', 'WebSocket x 20: server CPU/delivery', 'floor x 20',
    'long poll x 10: deliveries/s', 'SSE x 10', 'iframe x 10']) {
    assert.ok(out.includes(row), `missing row ${row}\n${out}`);
  }
  // A figure that is NaN or missing on our side means the script measured nothing.
  assert.doesNotMatch(out, /NaN/);
});
