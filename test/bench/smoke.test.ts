import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { skip } from '../browser/chromium.js';

// build/test/bench/ -> build/bench/run.js
const RUN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js');

/**
 * Runs every bench script with tiny counts, so that the bench cannot rot:
 * each must finish, print its table and exit 0. The figures are not checked,
 * except that the deflate rows must hold positive numbers.
 */
test('every bench script runs end to end with tiny counts', { timeout: 180_000 }, async () => {
  const child = spawn(process.execPath, [RUN, '--scale=0.002'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, `bench exited with ${code}\n${out}\n${err}`);
  for (const title of ['## Decode', '## Encode', '## Mask/unmask', '## Echo end to end', '## Memory', '## Fan-out', '## Fan-out bursts', '## permessage-deflate echo']) {
    assert.ok(out.includes(title), `missing table ${title}\n${out}`);
  }
  for (const row of ['decode 16 B vs ws JS', 'decode 1 MiB', 'encode 125 B Buffer', 'ours JS vs ws JS',
    'echo 64 KiB: server CPU/msg', 'RSS per idle WebSocket', 'RSS per SSE stream', 'WebSocket x 20: server CPU/delivery', 'floor x 20',
    'long poll x 10: deliveries/s', 'SSE x 10', 'iframe x 10', 'Socket.IO x 10: deliveries/s',
    'WebSocket x 10 x 10 channels: server CPU/delivery', 'SSE x 10 x 10 channels', 'long poll x 10 x 10 channels',
    'WebSocket x 10, publish loop: latency p99', 'WebSocket x 20, chat: latency p50', 'SSE x 10, publish loop', 'iframe x 10, publish loop']) {
    assert.ok(out.includes(row), `missing row ${row}\n${out}`);
  }
  // A figure that is NaN or missing on our side means the script measured nothing.
  assert.doesNotMatch(out, /NaN/);
  // The deflate rows: both columns present, finite and positive (RSS included: each
  // connection holds zlib state, so 20 added connections always grow the server).
  for (const size of ['1 KiB', '64 KiB']) {
    for (const mode of ['deflate', 'deflate, server_no_context_takeover']) {
      for (const what of ['server CPU/msg', 'wire bytes/echo']) assertFigures(out, `${mode} ${size}: ${what}`);
    }
  }
  assertFigures(out, 'deflate: RSS per connection (20 added)');
  assertFigures(out, 'deflate, server_no_context_takeover: RSS per connection (20 added)');
  // Bursts: ours beside ws, the loop of publishes and the chat.
  assertFigures(out, 'WebSocket x 20, publish loop: server CPU/delivery');
  assertFigures(out, 'WebSocket x 20, chat: server CPU/delivery');
  // Socket.IO fan-out: pushwire and socket.io 4 side by side.
  assertFigures(out, 'Socket.IO x 10: server CPU/delivery');
  // The browser windows: figures when there is a Chromium to measure with.
  assert.ok(out.includes('## Browser windows'), `missing table ## Browser windows\n${out}`);
  if (!skip) {
    for (const row of ['a window loads', 'a sign-up is answered', 'the leader window closes']) {
      const line = out.split('\n').find((l) => l.startsWith(row));
      assert.ok(line, `missing row ${row}\n${out}`);
      // name, samples, p50, max, <target, verdict: the three figures just before the target.
      const cells = line.split(/\s+/);
      const at = cells.findIndex((c) => c.startsWith('<'));
      const [samples, p50, max] = cells.slice(at - 3, at).map(Number);
      assert.ok(samples! > 0 && p50! > 0 && max! >= p50!, `row ${row}: ${line}`);
    }
  }
});

/** Reads the ours and ws columns of a table row (as lib.ts fmt prints them) and checks both are > 0. */
function assertFigures(out: string, name: string): void {
  const line = out.split('\n').find((l) => l.startsWith(name + ' '));
  assert.ok(line, `missing row ${name}\n${out}`);
  const cells = line.slice(name.length).trim().split(/\s+/);
  const units: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9 };
  for (const cell of [cells[1]!, cells[2]!]) {
    const m = /^(-?[\d.]+)([kMG]?)$/.exec(cell);
    const n = m ? Number(m[1]) * (units[m[2]!] ?? 1) : NaN;
    assert.ok(Number.isFinite(n) && n > 0, `row ${name}: figure ${cell} is not a positive number\n${line}`);
  }
}
