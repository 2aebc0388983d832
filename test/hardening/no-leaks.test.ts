/**
 * No leaks: connect/disconnect cycles of each push technique against one
 * server in this process, half of them polite and half abrupt, then the
 * process holds what it held before: file descriptors (/proc/self/fd),
 * sockets, timers and other handles (process.getActiveResourcesInfo(), by
 * type), the server's connections, subscriptions and channel clients
 * (push.stats()). 10,000 cycles per technique, 50 at once (about 3 s
 * each on 2 cores); LEAK_CYCLES changes the count.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openFileCount } from '../../src/metrics/process-metrics.js';
import { CYCLE_TECHNIQUES, runCycles } from '../../bench/cycles.js';
import { startServer, type TestServer } from '../push/helpers.js';
import { metric } from './helpers.js';

const CYCLES = Number(process.env.LEAK_CYCLES ?? 10_000);

let s: TestServer;
before(async () => {
  s = await startServer();
  // Everything created once, on first use (the heartbeat timer, zlib, the first channel), before the baseline.
  for (const technique of CYCLE_TECHNIQUES) await runCycles(s.port, technique, 4, 2);
  const deadline = Date.now() + 5000;
  while (s.server.push.stats().connections > 0 || metric(s.server.metrics.render(), 'pushwire_connections_open') > 0) {
    if (Date.now() > deadline) throw new Error('the warm-up clients did not go');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});
after(() => s.stop());

interface Snapshot {
  fds: number | null;
  resources: Record<string, number>;
  stats: ReturnType<TestServer['server']['push']['stats']>;
  open: number;
}

function snapshot(): Snapshot {
  const resources: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1;
  return {
    fds: openFileCount(),
    resources,
    stats: s.server.push.stats(),
    open: metric(s.server.metrics.render(), 'pushwire_connections_open'),
  };
}

/** The server lets go of a socket a moment after its client did: wait until the snapshot matches, then compare. */
async function settledLike(baseline: Snapshot, ms = 10_000): Promise<Snapshot> {
  const deadline = Date.now() + ms;
  for (;;) {
    const now = snapshot();
    if (JSON.stringify(now) === JSON.stringify(baseline) || Date.now() > deadline) return now;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const technique of CYCLE_TECHNIQUES) {
  test(`${CYCLES.toLocaleString('en')} connect/disconnect cycles of ${technique}: descriptors, sockets, timers and subscriptions back to the baseline`, async (t) => {
    const baseline = snapshot();
    const held = metric(s.server.metrics.render(), 'pushwire_subscriptions_total{technique="longpoll"}');
    const report = await runCycles(s.port, technique, CYCLES, 50);
    assert.equal(report.failures, 0, report.firstFailure ?? '');
    const end = await settledLike(baseline);
    t.diagnostic(`${technique}: ${CYCLES} cycles in ${Math.round(report.ms)} ms; fds ${baseline.fds} -> ${end.fds}; resources ${JSON.stringify(end.resources)}`);
    if (technique === 'longpoll') {
      t.diagnostic(`long polls subscribed: ${metric(s.server.metrics.render(), 'pushwire_subscriptions_total{technique="longpoll"}') - held}`);
    }
    assert.deepEqual(end.stats, baseline.stats, 'push.stats()');
    assert.equal(end.open, baseline.open, 'connections open');
    assert.deepEqual(end.resources, baseline.resources, 'active resources by type');
    assert.equal(end.fds, baseline.fds, 'file descriptors');
  });
}
