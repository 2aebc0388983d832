// The well-behaved client of helpers.ts, run in a worker thread: it reports when
// its connections are open, loops until told to stop, then posts its latencies.
import http from 'node:http';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type { LatencyReport } from './helpers.js';

const require = createRequire(import.meta.url);
const WebSocketClient = require('ws') as typeof import('ws').WebSocket;

// Loaded outside a worker (a test runner listing every file of the folder): nothing to do.
if (parentPort === null) process.exit(0);

const { base, localAddress, http: useHttp, ws: useWs } = workerData as { base: string; localAddress: string; http: boolean; ws: boolean };
const latencies: number[] = [];
const failures: string[] = [];
let running = true;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(`${base}/api/registrations`, { agent, localAddress }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) latencies.push(performance.now() - t0);
        else failures.push(`GET /api/registrations: ${res.statusCode}`);
        resolve();
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', (err) => {
      failures.push(`GET /api/registrations: ${err.message}`);
      resolve();
    });
  });
}

const pause = () => new Promise((r) => setTimeout(r, 20));

async function httpLoop(): Promise<void> {
  while (running) {
    await get();
    await pause();
  }
}

function openWs(): Promise<import('ws').WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocketClient(`${base.replace('http', 'ws')}/echo`, { localAddress });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.on('close', (code: number) => { if (running) failures.push(`WebSocket closed ${code}`); });
  });
}

async function wsLoop(ws: import('ws').WebSocket): Promise<void> {
  let n = 0;
  while (running && ws.readyState === WebSocketClient.OPEN) {
    const text = `ping ${n++}`;
    const t0 = performance.now();
    const echoed = await new Promise<boolean>((resolve) => {
      const onMessage = (data: Buffer) => {
        if (data.toString() !== text) return;
        clearTimeout(timer);
        ws.off('message', onMessage);
        resolve(true);
      };
      const timer = setTimeout(() => { ws.off('message', onMessage); resolve(false); }, 10_000);
      ws.on('message', onMessage);
      ws.send(text);
    });
    if (echoed) latencies.push(performance.now() - t0);
    else failures.push(`no echo of "${text}" within 10 s`);
    await pause();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

try {
  const loops: Promise<void>[] = [];
  let ws: import('ws').WebSocket | null = null;
  if (useWs) ws = await openWs();
  if (useHttp) {
    await get(); // the connection is open before the attack
    loops.push(httpLoop());
  }
  if (ws) loops.push(wsLoop(ws));
  parentPort!.once('message', async () => {
    running = false;
    await Promise.all(loops);
    ws?.close();
    agent.destroy();
    const sorted = [...latencies].sort((a, b) => a - b);
    const report: LatencyReport = {
      requests: sorted.length, failures, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN,
    };
    parentPort!.postMessage(report);
  });
  parentPort!.postMessage({ ready: true });
} catch (err) {
  parentPort!.postMessage({ error: (err as Error).message });
}
