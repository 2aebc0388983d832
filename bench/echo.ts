/**
 * Echo end to end: server CPU time per message on our /echo against a ws
 * echo server, for 32 B, 1 KiB and 64 KiB text messages over 32 connections.
 * Each server runs in a child process (server-child.ts) that reports its own
 * process.cpuUsage(); the load comes from ws clients (bufferutil, no
 * compression) in this process, the same for both servers.
 */
import { pathToFileURL } from 'node:url';
import { benchScale, createRequireHere, printTable, Worker, type Row } from './lib.js';
import { sizeLabel } from './codec.js';

const CONNECTIONS = 32;
/** Messages each connection keeps in flight. */
const WINDOW = 8;

interface Result { cpuPerMsg: number; msgsPerSec: number }

async function load(port: number, path: string, size: number, perConn: number): Promise<{ messages: number; seconds: number }> {
  const { WebSocket } = createRequireHere()('ws');
  const text = 'x'.repeat(size);
  const sockets: any[] = await Promise.all(Array.from({ length: CONNECTIONS }, () => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  })));
  const start = process.hrtime.bigint();
  await Promise.all(sockets.map((ws) => new Promise<void>((resolve, reject) => {
    let sent = 0;
    let received = 0;
    ws.on('message', (data: Buffer) => {
      if (data.length !== size) return reject(new Error(`echo of ${data.length} bytes, sent ${size}`));
      received++;
      if (received === perConn) return resolve();
      if (sent < perConn) { ws.send(text); sent++; }
    });
    ws.on('close', () => reject(new Error('echo connection closed early')));
    for (; sent < Math.min(WINDOW, perConn); sent++) ws.send(text);
  })));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  for (const ws of sockets) { ws.removeAllListeners('close'); ws.terminate(); }
  return { messages: CONNECTIONS * perConn, seconds };
}

async function measure(impl: 'ours' | 'ws', sizes: number[], counts: number[], rounds: number): Promise<Result[]> {
  const server = new Worker('server-child.js', [`--impl=${impl}`]);
  try {
    const { port } = await server.request('start');
    const path = impl === 'ours' ? '/echo' : '/';
    const results: Result[] = [];
    for (let s = 0; s < sizes.length; s++) {
      // Warm-up, then the best of `rounds` (the least disturbed by the 2-core box).
      await load(port, path, sizes[s]!, Math.max(2, counts[s]! >> 3));
      let best: Result | null = null;
      for (let r = 0; r < rounds; r++) {
        const before: number = await server.request('cpu');
        const { messages, seconds } = await load(port, path, sizes[s]!, counts[s]!);
        const cpu = (await server.request<number>('cpu')) - before;
        const res = { cpuPerMsg: cpu / messages, msgsPerSec: messages / seconds };
        if (!best || res.cpuPerMsg < best.cpuPerMsg) best = res;
      }
      results.push(best!);
    }
    return results;
  } finally {
    await server.stop();
  }
}

export async function run(): Promise<void> {
  const scale = benchScale();
  const sizes = [32, 1024, 64 * 1024];
  const counts = [2000, 1500, 60].map((n) => Math.max(2, Math.round(n * scale)));
  const rounds = scale < 0.05 ? 1 : 3;
  const ours = await measure('ours', sizes, counts, rounds);
  const ws = await measure('ws', sizes, counts, rounds);
  const rows: Row[] = [];
  sizes.forEach((size, i) => {
    rows.push({ name: `echo ${sizeLabel(size)}: server CPU/msg`, unit: 'us', better: 'lower', ours: ours[i]!.cpuPerMsg, ws: ws[i]!.cpuPerMsg, target: 1 / 0.8 });
    rows.push({ name: `echo ${sizeLabel(size)}: messages/s`, unit: 'msg/s', better: 'higher', ours: ours[i]!.msgsPerSec, ws: ws[i]!.msgsPerSec, note: 'load generator shares the 2 cores' });
  });
  printTable(`Echo end to end, ${CONNECTIONS} connections x ${WINDOW} in flight (ws clients, no compression; the ws server uses bufferutil when installed)`, rows);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
