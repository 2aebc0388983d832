/**
 * Memory: server RSS per idle WebSocket connection at 10,000 connections,
 * ours (/echo of the whole pushwire server) against a ws server; and, ours
 * only, per held long poll and per open SSE stream. RSS is read in the server
 * child after two forced GCs (--expose-gc), before and after the connections
 * open; the clients are raw sockets in this process.
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { benchScale, printTable, sleep, Worker, type Row } from './lib.js';
import { LongPollClient, openMany, openSse, RawWebSocket } from './clients.js';

interface Mem { rss: number; heapUsed: number; external: number; arrayBuffers: number }

async function settle(server: Worker): Promise<Mem> {
  await sleep(300);
  return server.request<Mem>('mem');
}

/** RSS added per connection while n of `open` are held; the server is warmed by a first small batch. */
async function perConnection(impl: 'ours' | 'ws', n: number, kind: 'ws' | 'longpoll' | 'sse'): Promise<number> {
  const server = new Worker('server-child.js', [`--impl=${impl}`], process.env, ['--expose-gc']);
  const held: { close(): void }[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  try {
    const { port } = await server.request('start');
    const path = impl === 'ours' ? '/echo' : '/';
    const open = async (count: number) => {
      const made = await openMany(count, 200, async () => {
        if (kind === 'ws') {
          const ws = await RawWebSocket.open(port, path, null);
          return { close: () => ws.socket.destroy() };
        }
        if (kind === 'sse') {
          const req = await openSse(port, agent, () => {});
          return { close: () => req.destroy() };
        }
        const poll = new LongPollClient(port, 0, agent, () => {});
        await poll.ready;
        return { close: () => poll.stop() };
      });
      held.push(...made);
    };
    await open(Math.min(200, n));
    for (const h of held.splice(0)) h.close();
    await sleep(200);
    const before = await settle(server);
    await open(n);
    if (kind === 'longpoll') {
      // A poll counts once the server holds it.
      for (let i = 0; i < 100; i++) {
        const stats = await server.request<Record<string, number>>('stats');
        if ((stats.heldPolls ?? 0) >= n) break;
        await sleep(50);
      }
    }
    const after = await settle(server);
    return (after.rss - before.rss) / n;
  } finally {
    // Stopping the server first leaves the TIME_WAIT sockets on its side, not on the client's ports.
    await server.stop();
    for (const h of held) h.close();
    agent.destroy();
  }
}

export async function run(): Promise<void> {
  const scale = benchScale();
  const n = Math.max(20, Math.round(10_000 * Math.min(1, scale)));
  const nHttp = Math.max(20, Math.round(2_000 * Math.min(1, scale)));
  const ours = await perConnection('ours', n, 'ws');
  const ws = await perConnection('ws', n, 'ws');
  const poll = await perConnection('ours', nHttp, 'longpoll');
  const sse = await perConnection('ours', nHttp, 'sse');
  const rows: Row[] = [
    { name: `RSS per idle WebSocket (${n} open)`, unit: 'bytes', better: 'lower', ours, ws, target: 1 },
    { name: `RSS per held long poll (${nHttp} held)`, unit: 'bytes', better: 'lower', ours: poll, ws: null, note: 'ws has no long polling' },
    { name: `RSS per SSE stream (${nHttp} open)`, unit: 'bytes', better: 'lower', ours: sse, ws: null, note: 'ws has no SSE' },
  ];
  printTable('Memory: server RSS growth per idle connection (after GC)', rows);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
