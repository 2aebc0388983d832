/**
 * Fan-out: one publish delivered to many subscribers. Ours publishes through
 * the push layer (PushApi.publish in the server child: the message is framed
 * once and the same bytes written to every /push/ws socket); the reference is
 * the usual ws broadcast loop (`for (const c of wss.clients) c.send(text)`).
 * Also, ours only, the same publish to long-poll, SSE and iframe clients,
 * and to connections that each carry 10 channels (`channels=`, docs/PROTOCOL.md
 * §3.11), the publishes going round the 10 channels: what one connection per
 * browser costs the server against one per channel.
 * And Socket.IO: `io.emit` to 1,000 Socket.IO clients (Engine.IO over
 * WebSocket), pushwire's Socket.IO beside the `socket.io` 4 package.
 *
 * Each publish carries the monotonic clock (process.hrtime, shared by every
 * process of the machine); the clients, in this process, note when each copy
 * arrives. The next publish waits until every subscriber has the previous one.
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { benchScale, percentile, printTable, sleep, Worker, type Row } from './lib.js';
import { LongPollClient, MuxLongPollClient, openIframe, openMany, openMuxSse, openSocketIo, openSse, RawWebSocket } from './clients.js';

type Kind = 'ws' | 'longpoll' | 'sse' | 'iframe' | 'sio';

interface FanoutResult {
  subscribers: number;
  deliveries: number;
  deliveriesPerSec: number;
  cpuPerDelivery: number;
  p50: number;
  p99: number;
}

/** `bench@0,bench.1@0,...`: the channels of a multiplexed client, from id 0 (nothing published yet). */
function channelNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? 'bench' : `bench.${i}`));
}

/** The publish's {seq, t} from whatever shape the technique delivers. */
function stamp(text: string): { seq: number; t: number } {
  // A Socket.IO event: 42["tick",{seq,t}].
  if (text.startsWith('42[')) return JSON.parse(text.slice(2))[1];
  const v = JSON.parse(text);
  // A chat message's data is a string: the stamp as JSON text.
  if (typeof v.data === 'string') return JSON.parse(v.data);
  return v.data && typeof v.data === 'object' ? v.data : v;
}

/**
 * How each round is published. `burst` messages at once: a loop of
 * publishes in the server child (one turn), or with `chat`, that many chat
 * messages sent by one more client in one write (they arrive in one read).
 */
export interface FanoutMode {
  burst?: number;
  chat?: boolean;
}

/**
 * `channels` > 1: each client subscribes to that many channels on its one
 * connection, and publish p goes to channel p mod `channels`, so every
 * publish still reaches every client.
 */
export async function fanout(impl: 'ours' | 'ws' | 'floor' | 'sio-ours' | 'sio-ref', kind: Kind, n: number, publishes: number, channels = 1,
  mode: FanoutMode = {}): Promise<FanoutResult> {
  const burst = mode.burst ?? 1;
  const chat = mode.chat === true;
  const names = chat ? ['chat'] : channelNames(channels);
  const server = new Worker('server-child.js', [`--impl=${impl}`, ...(chat ? ['--chat'] : [])]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const closers: (() => void)[] = [];
  const latencies: number[] = [];
  let pending = 0;
  let seq = 0;
  let wake: (() => void) | null = null;
  const onMessage = (text: string) => {
    const now = Number(process.hrtime.bigint() / 1000n);
    const s = stamp(text);
    if (s.seq !== seq) return;
    latencies.push(now - s.t);
    if (--pending === 0 && wake) wake();
  };
  try {
    const { port } = await server.request('start');
    await openMany(n, 200, async () => {
      if (kind === 'sio') {
        const ws = await openSocketIo(port, onMessage);
        closers.push(() => ws.socket.destroy());
      } else if (kind === 'ws') {
        const path = impl !== 'ours' ? '/' : channels > 1 ? `/push/ws?channels=${names.join(',')}` : `/push/ws?channel=${names[0]}`;
        const ws = await RawWebSocket.open(port, path, onMessage);
        closers.push(() => ws.socket.destroy());
      } else if (kind === 'sse' && channels > 1) {
        const req = await openMuxSse(port, agent, names, onMessage);
        closers.push(() => req.destroy());
      } else if (kind === 'longpoll' && channels > 1) {
        const poll = new MuxLongPollClient(port, names, agent, onMessage);
        await poll.ready;
        closers.push(() => poll.stop());
      } else if (kind === 'sse') {
        const req = await openSse(port, agent, onMessage);
        closers.push(() => req.destroy());
      } else if (kind === 'iframe') {
        const req = await openIframe(port, agent, onMessage);
        closers.push(() => req.destroy());
      } else {
        const poll = new LongPollClient(port, 0, agent, onMessage);
        await poll.ready;
        closers.push(() => poll.stop());
      }
    });
    const subscribed = async () => {
      for (let i = 0; i < 400; i++) {
        const st = await server.request<Record<string, number>>('stats');
        const count = kind === 'ws' || kind === 'sio' ? st.websockets : kind === 'longpoll' ? st.heldPolls : st.streams;
        // Ours: every channel of every client subscribed (a held poll counts each of its channels too).
        if ((count ?? 0) >= n && (impl !== 'ours' || (st.subscriptions ?? 0) >= n * channels)) return;
        await sleep(25);
      }
      throw new Error(`only some of ${n} ${kind} subscribers are registered`);
    };
    await subscribed();
    // The chatter: one more connection, subscribed to nothing (ws: excluded from its own broadcast).
    const chatter = chat ? await RawWebSocket.open(port, impl === 'ours' ? '/push/ws' : '/', null) : null;
    if (chatter) closers.push(() => chatter.socket.destroy());
    const cpuBefore: number = await server.request('cpu');
    let busy = 0;
    let deliveries = 0;
    let lost = 0;
    for (let p = 0; p < publishes; p++) {
      if (kind === 'longpoll' && p > 0) await subscribed(); // every poll is held again
      seq = p + 1;
      pending = n * burst;
      const start = process.hrtime.bigint();
      const done = new Promise<void>((resolve) => { wake = resolve; });
      if (chatter) {
        const t = Number(process.hrtime.bigint() / 1000n);
        const text = JSON.stringify({ event: 'chat message', data: JSON.stringify({ seq, t }) });
        chatter.sendTexts(Array.from({ length: burst }, () => text));
      } else {
        await server.request('publish', { seq, channel: names[p % channels], count: burst });
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<string>((resolve) => { timer = setTimeout(resolve, 15_000, 'timeout'); });
      if (await Promise.race([done, timeout]) === 'timeout') lost += pending;
      clearTimeout(timer);
      busy += Number(process.hrtime.bigint() - start) / 1e9;
      deliveries += n * burst - pending;
      wake = null;
    }
    if (lost > 0) process.stdout.write(`fanout ${impl} ${kind}: ${lost} deliveries missing after 15 s\n`);
    const cpu = (await server.request<number>('cpu')) - cpuBefore;
    latencies.sort((a, b) => a - b);
    return {
      subscribers: n, deliveries,
      deliveriesPerSec: deliveries / busy,
      cpuPerDelivery: cpu / deliveries,
      p50: percentile(latencies, 50) / 1000,
      p99: percentile(latencies, 99) / 1000,
    };
  } finally {
    await server.stop();
    for (const c of closers) c();
    agent.destroy();
  }
}

export async function run(): Promise<void> {
  const scale = benchScale();
  const big = Math.max(20, Math.round(10_000 * Math.min(1, scale)));
  const small = Math.max(10, Math.round(1_000 * Math.min(1, scale)));
  const publishes = Math.max(3, Math.round(30 * Math.min(1, scale)));
  const rows: Row[] = [];
  const wsRows = (label: string, ours: FanoutResult, ws: FanoutResult, cpuTarget?: number) => {
    rows.push({ name: `${label}: deliveries/s`, unit: '/s', better: 'higher', ours: ours.deliveriesPerSec, ws: ws.deliveriesPerSec });
    rows.push({ name: `${label}: server CPU/delivery`, unit: 'us', better: 'lower', ours: ours.cpuPerDelivery, ws: ws.cpuPerDelivery, target: cpuTarget });
    rows.push({ name: `${label}: latency p50`, unit: 'ms', better: 'lower', ours: ours.p50, ws: ws.p50 });
    rows.push({ name: `${label}: latency p99`, unit: 'ms', better: 'lower', ours: ours.p99, ws: ws.p99 });
  };
  let floor: FanoutResult | null = null;
  for (const n of [small, big]) {
    const ours = await fanout('ours', 'ws', n, publishes);
    const ws = await fanout('ws', 'ws', n, publishes);
    wsRows(`WebSocket x ${n}`, ours, ws, n === big ? 2 : undefined);
    if (n === big) floor = await fanout('floor', 'ws', n, publishes);
  }
  rows.push({ name: `floor x ${big}: server CPU/delivery`, unit: 'us', better: 'lower', ours: floor!.cpuPerDelivery, ws: null,
    note: 'bare net.Server writing one pre-framed Buffer per socket: Node stream write + kernel send' });
  for (const kind of ['longpoll', 'sse', 'iframe'] as const) {
    const r = await fanout('ours', kind, small, publishes);
    const label = `${kind === 'longpoll' ? 'long poll' : kind === 'sse' ? 'SSE' : 'iframe'} x ${small}`;
    rows.push({ name: `${label}: deliveries/s`, unit: '/s', better: 'higher', ours: r.deliveriesPerSec, ws: null });
    rows.push({ name: `${label}: server CPU/delivery`, unit: 'us', better: 'lower', ours: r.cpuPerDelivery, ws: null });
    rows.push({ name: `${label}: latency p50 / p99`, unit: 'ms', better: 'lower', ours: r.p50, ws: null, note: `p99 ${r.p99.toFixed(2)} ms` });
  }
  // One connection per browser: the same clients, each carrying 10 channels, the publishes going round them.
  for (const kind of ['ws', 'sse', 'longpoll'] as const) {
    const r = await fanout('ours', kind, small, publishes, 10);
    const label = `${kind === 'ws' ? 'WebSocket' : kind === 'sse' ? 'SSE' : 'long poll'} x ${small} x 10 channels`;
    rows.push({ name: `${label}: deliveries/s`, unit: '/s', better: 'higher', ours: r.deliveriesPerSec, ws: null });
    rows.push({ name: `${label}: server CPU/delivery`, unit: 'us', better: 'lower', ours: r.cpuPerDelivery, ws: null });
    rows.push({ name: `${label}: latency p50 / p99`, unit: 'ms', better: 'lower', ours: r.p50, ws: null, note: `p99 ${r.p99.toFixed(2)} ms` });
  }
  printTable(`Fan-out: ${publishes} publishes, each waited for at every subscriber (ws: broadcast loop of send())`, rows);

}


/**
 * Bursts: 20 messages at once, every subscriber's copies waited for before
 * the next round. "publish loop": 20 publishes in one turn of the server;
 * "chat": 20 chat messages sent by one client in one write (ours: the demo's
 * `chat message` event, published on `chat`; ws: the README chat, a
 * broadcast loop per message received). Also `--only=fanout-burst`.
 */
export async function runBurst(): Promise<void> {
  const scale = benchScale();
  const big = Math.max(20, Math.round(10_000 * Math.min(1, scale)));
  const small = Math.max(10, Math.round(1_000 * Math.min(1, scale)));
  const burst = 20;
  const rounds = (n: number) => Math.max(2, Math.round((n === big ? 5 : 15) * Math.min(1, scale)));
  const rows: Row[] = [];
  const pair = (label: string, ours: FanoutResult, ws: FanoutResult, target?: number) => {
    rows.push({ name: `${label}: server CPU/delivery`, unit: 'us', better: 'lower', ours: ours.cpuPerDelivery, ws: ws.cpuPerDelivery, target });
    rows.push({ name: `${label}: deliveries/s`, unit: '/s', better: 'higher', ours: ours.deliveriesPerSec, ws: ws.deliveriesPerSec });
    rows.push({ name: `${label}: latency p50`, unit: 'ms', better: 'lower', ours: ours.p50, ws: ws.p50 });
    rows.push({ name: `${label}: latency p99`, unit: 'ms', better: 'lower', ours: ours.p99, ws: ws.p99 });
  };
  for (const n of [small, big]) {
    pair(`WebSocket x ${n}, publish loop`, await fanout('ours', 'ws', n, rounds(n), 1, { burst }), await fanout('ws', 'ws', n, rounds(n), 1, { burst }), 4);
    pair(`WebSocket x ${n}, chat`, await fanout('ours', 'ws', n, rounds(n), 1, { burst, chat: true }), await fanout('ws', 'ws', n, rounds(n), 1, { burst, chat: true }), 4);
  }
  const floor = await fanout('floor', 'ws', big, rounds(big), 1, { burst });
  rows.push({ name: `floor x ${big}: server CPU/delivery`, unit: 'us', better: 'lower', ours: floor.cpuPerDelivery, ws: null,
    note: 'bare net.Server: the 20 pre-framed Buffers as one writev per socket' });
  for (const kind of ['sse', 'iframe'] as const) {
    const r = await fanout('ours', kind, small, rounds(small), 1, { burst });
    const label = `${kind === 'sse' ? 'SSE' : 'iframe'} x ${small}, publish loop`;
    rows.push({ name: `${label}: server CPU/delivery`, unit: 'us', better: 'lower', ours: r.cpuPerDelivery, ws: null });
    rows.push({ name: `${label}: latency p50 / p99`, unit: 'ms', better: 'lower', ours: r.p50, ws: null, note: `p99 ${r.p99.toFixed(2)} ms` });
  }
  printTable(`Fan-out bursts: ${burst} messages at once, each round waited for at every subscriber (ws: broadcast loop of send() per message)`, rows);
}

/**
 * Socket.IO fan-out: `io.emit` to 1,000 Socket.IO clients, pushwire's beside
 * socket.io 4 in the same run (also `--only=fanout-socketio` on its own).
 */
export async function runSocketIo(): Promise<void> {
  const scale = benchScale();
  const n = Math.max(10, Math.round(1_000 * Math.min(1, scale)));
  const publishes = Math.max(3, Math.round(30 * Math.min(1, scale)));
  const ours = await fanout('sio-ours', 'sio', n, publishes);
  const ref = await fanout('sio-ref', 'sio', n, publishes);
  const label = `Socket.IO x ${n}`;
  const rows: Row[] = [
    { name: `${label}: deliveries/s`, unit: '/s', better: 'higher', ours: ours.deliveriesPerSec, ws: ref.deliveriesPerSec },
    { name: `${label}: server CPU/delivery`, unit: 'us', better: 'lower', ours: ours.cpuPerDelivery, ws: ref.cpuPerDelivery },
    { name: `${label}: latency p50`, unit: 'ms', better: 'lower', ours: ours.p50, ws: ref.p50 },
    { name: `${label}: latency p99`, unit: 'ms', better: 'lower', ours: ours.p99, ws: ref.p99 },
  ];
  printTable(`Fan-out, Socket.IO: io.emit, ${publishes} publishes, each waited for at every client (Engine.IO over WebSocket; reference: socket.io 4)`, rows, 'socket.io');
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
