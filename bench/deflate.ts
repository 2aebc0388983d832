/**
 * permessage-deflate end to end: echo of compressible (JSON-like) 1 KiB and
 * 64 KiB text messages with deflate negotiated, ours (a bare WebSocketServer
 * from src/websocket/server.ts) beside a ws WebSocketServer, both with
 * perMessageDeflate on and the same settings (threshold 1024, so 1 KiB is
 * compressed; zlib level 6, window 15; zlib concurrency 10).
 *
 * Each server runs in a child process (server-child.ts --deflate=...) that
 * reports its own process.cpuUsage() (the libuv threads doing the async zlib
 * work included) and RSS. The load is ws clients with perMessageDeflate in this
 * process, the same for both servers, and they compress too. Two modes: the
 * default context takeover (what browsers get), and server_no_context_takeover
 * (offered by the client, accepted by both servers).
 *
 * Figures: server CPU per echoed message (inflate + deflate + framing), bytes
 * on the wire per echo from the server (to show both compress alike), and RSS
 * growth per connection once every connection has echoed a few messages (so
 * its zlib contexts exist), after GC.
 */
import { pathToFileURL } from 'node:url';
import { benchScale, createRequireHere, printTable, sleep, Worker, type Row } from './lib.js';
import { openMany } from './clients.js';
import { sizeLabel } from './codec.js';

const CONNECTIONS = 32;
/** Messages each connection keeps in flight. */
const WINDOW = 8;
/** Messages of 1 KiB each connection echoes before RSS is read. */
const RSS_MESSAGES = 4;
/**
 * Connections opened (and kept open) before the RSS baseline. Ours grows by a
 * one-time ~3 MB of native memory (not V8 heap, not ArrayBuffers) somewhere
 * between 10 and 50 deflate connections, which ws does not; 50 puts that step
 * before the baseline so the figure is the cost of one more connection.
 */
const RSS_WARM = 50;
/**
 * Distinct messages per size, sent in turn by every connection. A message
 * comes back around only after 64 KiB or more of others, out of reach of the
 * 32 KiB deflate window, so context takeover gains from the shared structure
 * (field names, digits), not from whole repeated messages.
 */
const poolSize = (size: number) => Math.max(4, Math.ceil(64 * 1024 / size));
/** No round of this bench may take longer (a lost echo would otherwise hang it). */
const ROUND_TIMEOUT_MS = 60_000;

type Mode = 'takeover' | 'no-takeover';
type Impl = 'ours' | 'ws';

/**
 * ASCII, JSON-like push payloads of exactly `size` bytes (an array of quote
 * records cut at `size`): field names repeat, values vary, as real traffic
 * does. Deterministic (xorshift from `seed`), so ours and ws get the same bytes.
 */
export function jsonLike(size: number, seed: number): string {
  let x = (Math.imul(seed + 1, 2654435761) >>> 0) || 1;
  const rnd = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296; };
  const pick = <T>(a: readonly T[]) => a[Math.floor(rnd() * a.length)]!;
  const symbols = ['ACME', 'GLOBX', 'INITECH', 'UMBRELLA', 'WAYNE', 'STARK', 'HOOLI', 'VANDELAY'];
  const events = ['quote', 'trade', 'cancel', 'fill'];
  let s = '[';
  while (s.length < size) {
    const bid = 100 + rnd() * 50;
    s += JSON.stringify({
      id: Math.floor(rnd() * 1e7), event: pick(events), symbol: pick(symbols),
      bid: bid.toFixed(2), ask: (bid + rnd()).toFixed(2), qty: Math.floor(rnd() * 5000),
      user: `user-${Math.floor(rnd() * 1000)}`, ts: 1_700_000_000_000 + Math.floor(rnd() * 1e8),
    }) + ',';
  }
  return s.slice(0, size);
}

interface Pool { text: string[]; bytes: Buffer[] }

function messagePool(size: number): Pool {
  const text = Array.from({ length: poolSize(size) }, (_, i) => jsonLike(size, size + i));
  return { text, bytes: text.map((t) => Buffer.from(t)) };
}

/** Per client socket: how many messages it has sent, across rounds (where it is in the pool). */
const sentSoFar = new WeakMap<object, number>();

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ROUND_TIMEOUT_MS} ms`)), ROUND_TIMEOUT_MS);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** n ws clients with perMessageDeflate; checks that the server accepted it (and the mode). */
async function openClients(port: number, n: number, mode: Mode): Promise<any[]> {
  const { WebSocket } = createRequireHere()('ws');
  const perMessageDeflate = mode === 'no-takeover' ? { serverNoContextTakeover: true } : true;
  return openMany(n, 50, () => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate });
    let ext = '';
    ws.on('upgrade', (res: { headers: Record<string, string | undefined> }) => { ext = res.headers['sec-websocket-extensions'] ?? ''; });
    ws.on('open', () => {
      if (!ext.includes('permessage-deflate') || (mode === 'no-takeover') !== ext.includes('server_no_context_takeover')) {
        ws.terminate();
        return reject(new Error(`server answered extensions "${ext}" in mode ${mode}`));
      }
      resolve(ws);
    });
    ws.on('error', reject);
  }));
}

function closeClients(sockets: any[]): void {
  for (const ws of sockets) { ws.removeAllListeners('close'); ws.terminate(); }
}

/**
 * Every socket echoes `perConn` messages from the pool, `window` in flight,
 * and checks each echo byte for byte (echoes come back in order).
 */
function echoAll(sockets: any[], pool: Pool, perConn: number, window: number): Promise<void> {
  const n = pool.text.length;
  return withTimeout(Promise.all(sockets.map((ws, c) => new Promise<void>((resolve, reject) => {
    // Each connection starts at its own place in the pool and goes on from where its last round stopped.
    const first = c + (sentSoFar.get(ws) ?? 0);
    sentSoFar.set(ws, first - c + perConn);
    let sent = 0;
    let received = 0;
    const onMessage = (data: Buffer) => {
      if (!data.equals(pool.bytes[(first + received) % n]!)) return reject(new Error(`echo ${received} differs from what was sent`));
      received++;
      if (received === perConn) {
        ws.off('message', onMessage);
        ws.off('close', onClose);
        return resolve();
      }
      if (sent < perConn) ws.send(pool.text[(first + sent++) % n]);
    };
    const onClose = () => reject(new Error('echo connection closed early'));
    ws.on('message', onMessage);
    ws.on('close', onClose);
    for (; sent < Math.min(window, perConn); sent++) ws.send(pool.text[(first + sent) % n]);
  }))).then(() => {}), 'an echo round');
}

/** What the client sockets have read so far: the server's frames, compressed. ws keeps its socket in `_socket`. */
function bytesRead(sockets: any[]): number {
  let n = 0;
  for (const ws of sockets) n += ws._socket.bytesRead;
  return n;
}

interface Result {
  /** Per size: server CPU us per echoed message, best of the rounds; wire bytes per echo. */
  cpuPerMsg: number[];
  wirePerMsg: number[];
  /** RSS growth per connection, bytes. */
  rssPerConn: number;
}

async function measure(impl: Impl, mode: Mode, sizes: number[], counts: number[], rounds: number, rssConns: number, settleMs: number): Promise<Result> {
  const server = new Worker('server-child.js', [`--impl=${impl}`, `--deflate=${mode}`], process.env, ['--expose-gc']);
  try {
    const { port } = await server.request('start');
    const small = messagePool(1024);

    // RSS first, in a fresh process. A first batch warms the code up (and fills any
    // process-wide zlib pool); it stays open, so no freed memory is there to be reused.
    const held = await openClients(port, RSS_WARM, mode);
    let rssPerConn: number;
    try {
      await echoAll(held, small, RSS_MESSAGES, RSS_MESSAGES);
      await sleep(settleMs);
      const before = await server.request<{ rss: number }>('mem');
      held.push(...await openClients(port, rssConns, mode));
      await echoAll(held.slice(RSS_WARM), small, RSS_MESSAGES, RSS_MESSAGES);
      await sleep(settleMs);
      const after = await server.request<{ rss: number }>('mem');
      rssPerConn = (after.rss - before.rss) / rssConns;
    } finally {
      closeClients(held);
    }

    const cpuPerMsg: number[] = [];
    const wirePerMsg: number[] = [];
    for (let s = 0; s < sizes.length; s++) {
      const pool = messagePool(sizes[s]!);
      const sockets = await openClients(port, CONNECTIONS, mode);
      try {
        // Warm-up, then the best of `rounds` (the least disturbed by the 2-core box).
        await echoAll(sockets, pool, Math.max(2, counts[s]! >> 3), WINDOW);
        let best = Infinity;
        let wire = 0;
        for (let r = 0; r < rounds; r++) {
          const read = bytesRead(sockets);
          const cpu0 = await server.request<number>('cpu');
          await echoAll(sockets, pool, counts[s]!, WINDOW);
          const cpu = (await server.request<number>('cpu')) - cpu0;
          const messages = CONNECTIONS * counts[s]!;
          if (cpu / messages < best) {
            best = cpu / messages;
            wire = (bytesRead(sockets) - read) / messages;
          }
        }
        cpuPerMsg.push(best);
        wirePerMsg.push(wire);
      } finally {
        closeClients(sockets);
      }
    }
    return { cpuPerMsg, wirePerMsg, rssPerConn };
  } finally {
    await server.stop();
  }
}

export async function run(): Promise<void> {
  const scale = benchScale();
  const sizes = [1024, 64 * 1024];
  const counts = [100, 6].map((n) => Math.max(2, Math.round(n * scale)));
  const rounds = scale < 0.05 ? 1 : 3;
  const rssConns = Math.max(20, Math.round(300 * Math.min(1, scale)));
  const settleMs = scale < 0.05 ? 50 : 300;
  const modes: [Mode, string][] = [['takeover', 'deflate'], ['no-takeover', 'deflate, server_no_context_takeover']];
  const rows: Row[] = [];
  for (const [mode, label] of modes) {
    const ours = await measure('ours', mode, sizes, counts, rounds, rssConns, settleMs);
    const ws = await measure('ws', mode, sizes, counts, rounds, rssConns, settleMs);
    sizes.forEach((size, i) => {
      rows.push({ name: `${label} ${sizeLabel(size)}: server CPU/msg`, unit: 'us', better: 'lower', ours: ours.cpuPerMsg[i]!, ws: ws.cpuPerMsg[i]! });
      rows.push({ name: `${label} ${sizeLabel(size)}: wire bytes/echo`, unit: 'bytes', better: 'lower', ours: ours.wirePerMsg[i]!, ws: ws.wirePerMsg[i]!,
        note: `server to client, frame included (${size} uncompressed)` });
    });
    rows.push({ name: `${label}: RSS per connection (${rssConns} added)`, unit: 'bytes', better: 'lower', ours: ours.rssPerConn, ws: ws.rssPerConn,
      note: `each after ${RSS_MESSAGES} echoes of 1 KiB; ${RSS_WARM} open before; GC` });
  }
  printTable(`permessage-deflate echo, JSON-like text, ${CONNECTIONS} connections x ${WINDOW} in flight (ws clients with perMessageDeflate)`, rows);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
