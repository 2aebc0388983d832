// The model-based check must find the loss bugs this client has had, planted back into a
// copy of the built core: each mutation below undoes one fix, and the model has to fail.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { runSchedule } from './model.js';

const core = join(import.meta.dirname, '../../src/client/core');
const MAX_SEEDS = 3000;
const temps: string[] = [];
after(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const BUGS: { name: string; file: string; fixed: string; planted: string }[] = [
  {
    name: 'a subscription joining a busy channel from an older cursor takes the live messages at once',
    file: 'hub.js',
    fixed: 'if (follows(listener.cursor(), before))',
    planted: 'if (true)',
  },
  {
    name: "a window still electing when another's replay is relayed takes its tail",
    file: 'share.js',
    fixed: 'if (sub.key === p.key && follows(sub.cursor(), p.at))',
    planted: 'if (sub.key === p.key)',
  },
  {
    name: 'a reload after a gap that returns an older id does not send the connection back',
    file: 'subscription.js',
    fixed: 'if (wentBack && !this.closed)',
    planted: 'if (false)',
  },
];

for (const bug of BUGS) {
  test(`the model finds: ${bug.name}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pushwire-planted-'));
    temps.push(dir);
    cpSync(core, dir, { recursive: true });
    const file = join(dir, bug.file);
    const source = readFileSync(file, 'utf8');
    assert.equal(source.split(bug.fixed).length, 2, `${bug.file} no longer holds the fix as written here: update this test`);
    writeFileSync(file, source.replace(bug.fixed, bug.planted));
    const { createClient } = await import(pathToFileURL(join(dir, 'client.js')).href);
    for (let seed = 1; seed <= MAX_SEEDS; seed++) {
      const outcome = await runSchedule(createClient, seed);
      if (!outcome.ok) return;
    }
    assert.fail(`no schedule of ${MAX_SEEDS} found it`);
  });
}
