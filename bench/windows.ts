/**
 * The demo in the windows of one browser (Chromium, one profile), the server
 * as users run it (`node dist/server.js`): how long a window takes to show
 * the live count, how long a sign-up waits for its answer, and how long the
 * other windows wait for a new connection when the window holding it closes.
 * Targets: 2 s, 1 s, 2 s. Each round is a fresh profile: one window, then
 * three more at once, four sign-ups at once, then the leader closes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { spawnServer } from '../test/app/helpers.js';
import { launchChromium, skip } from '../test/browser/chromium.js';
import { demo, openWindow, signUp, waitForText } from '../test/browser/demo-page.js';
import { benchScale, percentile } from './lib.js';

interface Figure { name: string; samples: number[]; target: number }

export async function run(): Promise<void> {
  process.stdout.write('\n## Browser windows (Chromium, one profile; ms, measured in the page)\n');
  if (skip) {
    process.stdout.write(`skipped: ${skip}\n`);
    return;
  }
  const rounds = Math.max(1, Math.round(5 * benchScale()));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushwire-bench-windows-'));
  const server = await spawnServer(['--port', '0', '--capacity', '100000', '--data-dir', dataDir]);
  const browser = await launchChromium();
  const load: Figure = { name: 'a window loads (1, then 3 at once)', samples: [], target: 2000 };
  const answer: Figure = { name: 'a sign-up is answered (4 windows at once)', samples: [], target: 1000 };
  const takeover: Figure = { name: 'the leader window closes: another holds the connection', samples: [], target: 2000 };
  let signups = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
      try {
        const first = await openWindow(context, server.base, 100000);
        const more = await Promise.all([1, 2, 3].map(() => openWindow(context, server.base, 100000)));
        const windows = [first, ...more];
        load.samples.push(...windows.map((w) => w.loadMs));
        answer.samples.push(...await Promise.all(windows.map((w) => signUp(w.page, `bench ${++signups}`))));
        takeover.samples.push(await closeLeader(windows.map((w) => w.page)));
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
    server.child.kill('SIGTERM');
    await server.exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  printFigures([load, answer, takeover], rounds);
}

/** Closes the window holding the connection; resolves with the ms until another shows its own WebSocket open. */
async function closeLeader(pages: Page[]): Promise<number> {
  const roles = await Promise.all(pages.map((p) => demo<string>(p, 'subs.main.stats.role')));
  const leader = pages[roles.indexOf('leader')]!;
  const rest = pages.filter((p) => p !== leader);
  const closedAt = Date.now();
  await leader.close();
  for (;;) {
    const now = await Promise.all(rest.map((p) => demo<string>(p, 'subs.main.stats.role')));
    const i = now.indexOf('leader');
    if (i >= 0) {
      await waitForText(rest[i]!, '#main-transport', 'WebSocket (open)', 10_000);
      return Date.now() - closedAt;
    }
    if (Date.now() - closedAt > 10_000) throw new Error('no window took the connection over within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function printFigures(figures: Figure[], rounds: number): void {
  const rows = [['', 'samples', 'p50', 'max', 'target', '']];
  for (const f of figures) {
    const sorted = f.samples.slice().sort((a, b) => a - b);
    const max = sorted[sorted.length - 1]!;
    const verdict = benchScale() !== 1 ? 'n/a (scaled)' : max < f.target ? 'met' : 'MISSED';
    rows.push([f.name, String(sorted.length), String(Math.round(percentile(sorted, 50))), String(Math.round(max)), `<${f.target}`, verdict]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd() + '\n');
  process.stdout.write(`(${rounds} rounds; the takeover is timed from the test driver, polling every 10 ms)\n`);
}
