/**
 * The channel log on Redis beside the in-memory one, at the log level (no
 * HTTP): publish throughput with 64 publishes in flight, and, one publish at
 * a time, how long until the publisher has its id (ack) and until a
 * subscriber on a second "server" (another RedisChannelLog with its own
 * connections, same Redis) has the message. The memory column is the same
 * with the in-memory log (one process: delivery is a function call).
 * redis-server is started on a free port for the run (as the tests do).
 *
 * Then end to end, through `node dist/server.js --redis URL` processes:
 * publish throughput over HTTP (POST /push/emit), and fan-out across two
 * servers: WebSocket subscribers split over servers A and B, each message
 * published on A; publish-to-delivery latency (from the POST being sent) on
 * A's and on B's subscribers. The memory column is one server without
 * --redis, every subscriber on it.
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { MemoryChannelLog } from '../src/push/channel-log.js';
import { asyncLog, type AsyncChannelLog } from '../src/push/log.js';
import type { PushMessage } from '../src/push/message.js';
import { RedisChannelLog } from '../src/push/redis-log.js';
import { startServer, tempDataDir, type Started } from '../test/cli/helpers.js';
import { findRedisServer, RedisServer } from '../test/redis/redis-server.js';
import { openMany, RawWebSocket } from './clients.js';
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

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** POST /push/emit of a chat message; resolves once answered 202. */
function emit(port: number, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ event: 'chat message', data: text });
    const req = http.request({ host: '127.0.0.1', port, path: '/push/emit', method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error(`POST /push/emit: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function httpThroughput(port: number, n: number): Promise<number> {
  let sent = 0;
  const started = process.hrtime.bigint();
  const lane = async () => {
    while (sent < n) {
      sent++;
      await emit(port, 'x');
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

const now = () => Number(process.hrtime.bigint() / 1000n);

/**
 * `subscribers` WebSockets on channel chat, spread over `ports` in turn;
 * `publishes` messages published one at a time on ports[0], each once every
 * subscriber has the previous one. Latency (µs) per server index.
 */
async function fanout(ports: number[], subscribers: number, publishes: number): Promise<number[][]> {
  const latencies: number[][] = ports.map(() => []);
  let pending = 0;
  let allIn: (() => void) | null = null;
  // From the last id as it is now: a socket whose subscription is still reading when the
  // first publish lands gets it from the backlog (without since, it would start after it).
  const since = await lastId(ports[0]!);
  const sockets = await openMany(subscribers, 50, (i) => RawWebSocket.open(ports[i % ports.length]!, `/push/ws?channel=chat&since=${since}`, (text) => {
    const data = (JSON.parse(text) as { data: string }).data;
    latencies[i % ports.length]!.push(now() - Number(data.slice(data.indexOf(' ') + 1)));
    if (--pending === 0) allIn?.();
  }));
  for (let i = 0; i < publishes; i++) {
    pending = subscribers;
    const got = new Promise<void>((resolve) => { allIn = resolve; });
    await emit(ports[0]!, `${i} ${now()}`);
    await got;
  }
  for (const ws of sockets) ws.socket.destroy();
  for (const list of latencies) list.sort((a, b) => a - b);
  return latencies;
}

function lastId(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/push/poll?channel=chat&since=0', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve((JSON.parse(body) as { last: number }).last));
    }).on('error', reject);
  });
}

async function serve(args: string[]): Promise<Started> {
  return startServer(['--port', '0', '--data-dir', tempDataDir(), ...args]);
}

async function stopServer(s: Started): Promise<void> {
  s.child.kill('SIGTERM');
  await s.exited;
}

/** End to end through server processes: HTTP publish rate, and fan-out over two servers on one Redis. */
async function endToEnd(url: string, scale: number): Promise<Row[]> {
  const n = Math.max(300, Math.round(3_000 * Math.min(1, scale)));
  const subscribers = Math.max(100, Math.round(1_000 * Math.min(1, scale)));
  const publishes = Math.max(30, Math.round(200 * Math.min(1, scale)));
  const [a, b, alone] = await Promise.all([serve(['--redis', url]), serve(['--redis', url]), serve([])]);
  try {
    const rateRedis = await httpThroughput(a.port, n);
    const rateMemory = await httpThroughput(alone.port, n);
    const [onA, onB] = await fanout([a.port, b.port], subscribers, publishes);
    const [memory] = await fanout([alone.port], subscribers, publishes);
    const what = `${subscribers} WebSockets, half on A, half on B, ${publishes} publishes on A`;
    return [
      { name: `end to end: POST /push/emit, 16 in flight (${n})`, unit: 'msg/s', better: 'higher', ours: rateRedis, ws: rateMemory },
      { name: `fan-out, ${what}: A's p50`, unit: 'us', better: 'lower', ours: percentile(onA!, 50), ws: percentile(memory!, 50), note: 'memory: one server, all subscribers on it' },
      { name: "fan-out: A's p99", unit: 'us', better: 'lower', ours: percentile(onA!, 99), ws: percentile(memory!, 99) },
      { name: "fan-out: B's p50 (published on A)", unit: 'us', better: 'lower', ours: percentile(onB!, 50), ws: null, note: 'through Redis pub/sub' },
      { name: "fan-out: B's p99", unit: 'us', better: 'lower', ours: percentile(onB!, 99), ws: null },
    ];
  } finally {
    await Promise.all([stopServer(a), stopServer(b), stopServer(alone)]);
    agent.destroy();
  }
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
    const e2e = await endToEnd(redis.url, scale);
    const rows: Row[] = [
      { name: `publish, ${IN_FLIGHT} in flight (${n})`, unit: 'msg/s', better: 'higher', ours: rateRedis, ws: rateMemory },
      { name: `publish ack, one at a time (${m}): p50`, unit: 'us', better: 'lower', ours: latRedis.ackP50, ws: latMemory.ackP50 },
      { name: 'publish ack: p99', unit: 'us', better: 'lower', ours: latRedis.ackP99, ws: latMemory.ackP99 },
      { name: 'publish to delivery on the other server: p50', unit: 'us', better: 'lower', ours: latRedis.deliveryP50, ws: latMemory.deliveryP50, note: 'memory: same process' },
      { name: 'publish to delivery on the other server: p99', unit: 'us', better: 'lower', ours: latRedis.deliveryP99, ws: latMemory.deliveryP99 },
      ...e2e,
    ];
    printTable(title, rows, 'memory');
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
