/**
 * The channel log on Redis beside the in-memory one, at the log level (no
 * HTTP): publish throughput with 64 publishes in flight, and, one publish at
 * a time, how long until the publisher has its id (ack) and until a
 * subscriber on a second "server" (another RedisChannelLog with its own
 * connections, same Redis) has the message. The memory column is the same
 * with the in-memory log (one process: delivery is a function call).
 * redis-server is started on a free port for the run (as the tests do).
 */
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { MemoryChannelLog } from '../src/push/channel-log.js';
import { asyncLog, type AsyncChannelLog } from '../src/push/log.js';
import type { PushMessage } from '../src/push/message.js';
import { RedisChannelLog } from '../src/push/redis-log.js';
import { findRedisServer, RedisServer } from '../test/redis/redis-server.js';
import { benchScale, percentile, printTable, type Row } from './lib.js';

const DATA = JSON.stringify({ user: 'someone', text: 'a chat line of about this length', at: 1_700_000_000_000 });
const IN_FLIGHT = 64;

async function throughput(log: AsyncChannelLog, n: number): Promise<number> {
  let sent = 0;
  const started = process.hrtime.bigint();
  const lane = async () => {
    while (sent < n) {
      sent++;
      await log.publish('bench-rate', 'e', DATA);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

interface Latency { ackP50: number; ackP99: number; deliveryP50: number; deliveryP99: number }

/** One publish at a time on `from`; a subscriber on `to` notes when each arrives (µs). */
async function latency(from: AsyncChannelLog, to: AsyncChannelLog, n: number): Promise<Latency> {
  const acks: number[] = [];
  const deliveries: number[] = [];
  let t0 = 0n;
  let arrived: (() => void) | null = null;
  const subscriber = {
    deliver(_m: PushMessage) {
      deliveries.push(Number(process.hrtime.bigint() - t0) / 1e3);
      arrived?.();
    },
  };
  to.subscribe('bench-latency', subscriber);
  // The first subscriber's baseline read: let it settle before timing.
  await to.read('bench-latency', 0);
  for (let i = 0; i < n; i++) {
    const got = new Promise<void>((resolve) => { arrived = resolve; });
    t0 = process.hrtime.bigint();
    await from.publish('bench-latency', 'e', DATA);
    acks.push(Number(process.hrtime.bigint() - t0) / 1e3);
    await got;
  }
  to.unsubscribe('bench-latency', subscriber);
  acks.sort((a, b) => a - b);
  deliveries.sort((a, b) => a - b);
  return { ackP50: percentile(acks, 50), ackP99: percentile(acks, 99), deliveryP50: percentile(deliveries, 50), deliveryP99: percentile(deliveries, 99) };
}

async function openRedisLog(url: string): Promise<{ log: RedisChannelLog; close(): Promise<void> }> {
  const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  const subscriber = client.duplicate();
  await client.connect();
  await subscriber.connect();
  const log = new RedisChannelLog(client, { subscriber });
  await log.start();
  return {
    log,
    async close() {
      await log.close();
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

export async function run(): Promise<void> {
  const title = 'Redis channel log (ours) beside the in-memory log (memory): log level, two "servers" on one Redis';
  if (!findRedisServer()) {
    printTable(title, [{ name: 'skipped', unit: '', better: 'higher', ours: null, ws: null, note: 'redis-server is not installed (apt-get install redis-server)' }], 'memory');
    return;
  }
  const scale = benchScale();
  const n = Math.max(200, Math.round(20_000 * Math.min(1, scale)));
  const m = Math.max(50, Math.round(2_000 * Math.min(1, scale)));
  const redis = await RedisServer.start();
  const a = await openRedisLog(redis.url);
  const b = await openRedisLog(redis.url);
  const memory = asyncLog(new MemoryChannelLog());
  try {
    const rateRedis = await throughput(a.log, n);
    const rateMemory = await throughput(memory, n);
    const latRedis = await latency(a.log, b.log, m);
    const latMemory = await latency(memory, memory, m);
    const rows: Row[] = [
      { name: `publish, ${IN_FLIGHT} in flight (${n})`, unit: 'msg/s', better: 'higher', ours: rateRedis, ws: rateMemory },
      { name: `publish ack, one at a time (${m}): p50`, unit: 'us', better: 'lower', ours: latRedis.ackP50, ws: latMemory.ackP50 },
      { name: 'publish ack: p99', unit: 'us', better: 'lower', ours: latRedis.ackP99, ws: latMemory.ackP99 },
      { name: 'publish to delivery on the other server: p50', unit: 'us', better: 'lower', ours: latRedis.deliveryP50, ws: latMemory.deliveryP50, note: 'memory: same process' },
      { name: 'publish to delivery on the other server: p99', unit: 'us', better: 'lower', ours: latRedis.deliveryP99, ws: latMemory.deliveryP99 },
    ];
    printTable(title, rows, 'memory');
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
