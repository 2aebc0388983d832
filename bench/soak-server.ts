/**
 * The server side of `npm run soak` (soak.ts), in a child process of its own
 * so that its RSS and descriptors are its alone: the whole pushwire server
 * (createPushwireServer, default settings) plus a publisher that the driver
 * starts and stops over IPC.
 *
 * Commands: start -> {port, pid}; publish {rate, channels} starts publishing;
 * stop-publishing -> the last id of each channel; stats [{gc}] -> push stats, RSS, heap, fds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULTS } from '../src/config.js';
import { openFileCount } from '../src/metrics/process-metrics.js';
import { createPushwireServer, type PushwireServer } from '../src/pushwire-server.js';
import { serveRequests } from './lib.js';

let server: PushwireServer | null = null;
let publisher: NodeJS.Timeout | null = null;
let published = 0;
let channels: string[] = [];

serveRequests({
  async start() {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pushwire-soak-'));
    process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));
    server = createPushwireServer({ ...DEFAULTS, port: 0, host: '127.0.0.1', dataDir }, { log: () => {} });
    const { port } = await server.listen();
    return { port, pid: process.pid };
  },
  publish({ rate, channels: names }: { rate: number; channels: string[] }) {
    channels = names;
    // Every 10 ms what is due by the clock, round robin over the channels: steady, and late timers catch up.
    const since = performance.now();
    publisher = setInterval(() => {
      const due = Math.floor(((performance.now() - since) / 1000) * rate);
      while (published < due) {
        const channel = channels[published % channels.length]!;
        server!.push.publish(channel, 'tick', { n: published++ });
      }
    }, 10);
    return null;
  },
  async 'stop-publishing'() {
    if (publisher) clearInterval(publisher);
    publisher = null;
    const lasts = await Promise.all(channels.map((c) => server!.push.last(c)));
    return { published, last: Object.fromEntries(channels.map((c, i) => [c, lasts[i]!])) };
  },
  /** With `gc` (the child runs with --expose-gc): the heap after a full collection, what is really held. */
  stats(arg?: { gc?: boolean }) {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (arg?.gc && gc) {
      gc();
      gc();
    }
    return { ...server!.push.stats(), rss: process.memoryUsage.rss(), heap: process.memoryUsage().heapUsed, fds: openFileCount() };
  },
});
