import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MetricsRegistry } from './registry.js';

/** Sampling period of the event-loop delay histogram, ms. */
const LAG_RESOLUTION_MS = 10;

/**
 * The process's own figures, under the names Prometheus client libraries use
 * (`process_*`, `nodejs_*`), so that existing dashboards read them: RSS, heap,
 * CPU time, open and maximum file descriptors, and event-loop lag.
 * Returns a stop function (the lag histogram samples on a timer).
 */
export function registerProcessMetrics(registry: MetricsRegistry): () => void {
  registry.gauge({
    name: 'process_resident_memory_bytes', help: 'Resident set size of the process, in bytes.',
    collect: (g) => g.set(process.memoryUsage.rss()),
  });
  registry.gauge({
    name: 'nodejs_heap_size_used_bytes', help: 'V8 heap in use, in bytes.',
    collect: (g) => g.set(process.memoryUsage().heapUsed),
  });
  registry.counter({
    name: 'process_cpu_seconds_total', help: 'User and system CPU time of the process, in seconds.',
    collect: (c) => {
      const { user, system } = process.cpuUsage();
      c.labels().set((user + system) / 1e6);
    },
  });
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  registry.gauge({
    name: 'process_start_time_seconds', help: 'Start time of the process, in seconds since the Unix epoch.',
    collect: (g) => g.set(startTime),
  });
  // Linux only: elsewhere these two are left out rather than reported as 0.
  if (openFileCount() !== null) {
    registry.gauge({
      name: 'process_open_fds', help: 'Open file descriptors (sockets included).',
      collect: (g) => g.set(openFileCount() ?? NaN),
    });
  }
  const maxFds = maxFileCount();
  if (maxFds !== null) {
    registry.gauge({ name: 'process_max_fds', help: 'Limit on open file descriptors (ulimit -n).', collect: (g) => g.set(maxFds) });
  }

  // The histogram records each sampling period as measured: the lag is what exceeds the period.
  const delay = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  delay.enable();
  const lag = (nanoseconds: number) => (Number.isFinite(nanoseconds) ? Math.max(0, nanoseconds / 1e6 - LAG_RESOLUTION_MS) / 1000 : 0);
  const quantiles: [string, string, (h: typeof delay) => number][] = [
    ['nodejs_eventloop_lag_mean_seconds', 'Mean event-loop lag since the previous scrape, in seconds.', (h) => h.mean],
    ['nodejs_eventloop_lag_p50_seconds', 'Median event-loop lag since the previous scrape, in seconds.', (h) => h.percentile(50)],
    ['nodejs_eventloop_lag_p99_seconds', '99th percentile of event-loop lag since the previous scrape, in seconds.', (h) => h.percentile(99)],
    ['nodejs_eventloop_lag_max_seconds', 'Largest event-loop lag since the previous scrape, in seconds.', (h) => h.max],
  ];
  for (const [name, help, read] of quantiles) {
    registry.gauge({ name, help, collect: (g) => g.set(delay.count > 0 ? lag(read(delay)) : 0) });
  }
  // Rendered last among the lag gauges: start a fresh interval for the next scrape.
  registry.gauge({
    name: 'nodejs_eventloop_lag_samples', help: 'Event-loop delay samples taken since the previous scrape.',
    collect: (g) => {
      g.set(delay.count);
      delay.reset();
    },
  });
  return () => delay.disable();
}

/** Entries of /proc/self/fd, or null where there is no such directory. */
export function openFileCount(): number | null {
  try {
    // One entry is the directory handle readdir itself opened.
    return fs.readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}

/** The soft limit on open files, from /proc/self/limits, or null if unknown or unlimited. */
export function maxFileCount(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
