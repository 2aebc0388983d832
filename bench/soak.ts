/**
 * `npm run soak`: the server under a crowd for a bounded time (a skeleton on
 * the single-channel paths; see bench/README.md). Against the pushwire server
 * in a child process (soak-server.ts), this process holds
 *   10,000 WebSockets (/push/ws), 1,000 long polls and 1,000 SSE streams,
 * spread over 100 channels, while 100 messages per second are published round
 * robin over the channels (one per channel per second: the WebSockets are
 * mostly idle), and every second 1 % of the clients drop their connection and
 * resume from their last id after up to a second. Then it checks:
 * - every client got every message of its channel exactly once, in order,
 *   across its resumes (no loss, no duplicate, no gap notice);
 * - the server's RSS over the run (reported; over --max-rss MiB fails), and its heap after a full GC:
 *   once everyone left, no more than the channels' retained messages above the start;
 * - after every client left: no subscription left, descriptors back to the baseline;
 * - then 10,000 connect/disconnect cycles of each technique (bench/cycles.ts),
 *   and again: nothing left, descriptors back to the baseline.
 *
 *   node build/bench/soak.js [--seconds 60] [--scale 1] [--rate 100] [--churn 0.01] [--cycles 10000] [--max-rss 1024]
 *
 * Exit code 0 when everything held, 1 otherwise. `npm run soak` raises the
 * open-file limit to the hard limit first (12,000 sockets on each side).
 */
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { encodeFrame, nextMaskKey } from '../src/protocol/frame-encoder.js';
import { Opcode } from '../src/protocol/constants.js';
import { maxFileCount } from '../src/metrics/process-metrics.js';
import { openMany } from './clients.js';
import { CYCLE_TECHNIQUES, runCycles, type CycleReport } from './cycles.js';
import { sleep, Worker } from './lib.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i !== -1 ? process.argv[i + 1] : process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!(value > 0)) throw new Error(`--${name} must be a positive number`);
  return value;
}

const SECONDS = option('seconds', 60);
const SCALE = option('scale', 1);
const RATE = option('rate', 100);
const CHURN = option('churn', 0.01);
const CYCLES = option('cycles', 10_000);
const MAX_RSS_MIB = option('max-rss', 1024);
const CHANNELS = Array.from({ length: 100 }, (_, i) => `soak-${i}`);
const MiB = 1024 * 1024;

/** What one client has seen of each of its channels: the next id it expects, and what went wrong. */
class Tracker {
  private readonly next = new Map<string, number>();
  received = 0;
  resumes = 0;
  /** Set while the client is between a drop and its reconnection. */
  away = false;
  constructor(readonly channels: readonly string[]) {
    for (const channel of channels) this.next.set(channel, 1);
  }
  /** Several channels on one connection (docs/PROTOCOL.md §3.11): messages name their channel. */
  get multiplexed(): boolean { return this.channels.length > 1; }
  get label(): string { return this.channels.join('+'); }
  see(channel: string | undefined, id: number): void {
    const name = channel ?? this.channels[0]!;
    const next = this.next.get(name);
    if (next === undefined) return void problems.push(`${this.label}: a message of ${name}, not subscribed`);
    if (id === next) {
      this.next.set(name, next + 1);
      this.received++;
    } else if (id < next) {
      problems.push(`${this.label}: ${name} id ${id} again (expected ${next})`);
    } else {
      problems.push(`${this.label}: ${name} ids ${next}..${id - 1} lost`);
      this.next.set(name, id + 1);
    }
  }
  since(channel: string): number { return this.next.get(channel)! - 1; }
  /** The subscribe query resuming from what was seen: `channel=C&since=N`, or `channels=a@N,b@M`. */
  query(): string {
    if (!this.multiplexed) return `channel=${this.channels[0]}&since=${this.since(this.channels[0]!)}`;
    return `channels=${this.cursor()}`;
  }
  /** `a@N,b@M`: also the compound Last-Event-ID of SSE. */
  cursor(): string {
    return this.channels.map((c) => `${c}@${this.since(c)}`).join(',');
  }
  caughtUp(last: Record<string, number>): boolean {
    return this.channels.every((c) => this.since(c) === last[c]);
  }
}

const problems: string[] = [];
let port = 0;

interface Client {
  tracker: Tracker;
  connect(): Promise<void>;
  drop(): void;
  close(): void;
}

/** A raw WebSocket subscriber: the handshake by hand, frames read by our FrameDecoder, pings answered. */
class WsClient implements Client {
  private socket: net.Socket | null = null;
  private closing = false;
  constructor(readonly tracker: Tracker) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      this.socket = socket;
      let head = Buffer.alloc(0);
      let decoder: FrameDecoder | null = null;
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => {
        if (decoder) return decoder.push(chunk);
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        if (!head.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) {
          socket.destroy();
          return reject(new Error(`WebSocket refused: ${head.toString('latin1', 0, end).split('\r\n')[0]}`));
        }
        decoder = new FrameDecoder({
          onMessage: (data) => this.message(data.toString()),
          onPing: (payload) => socket.write(encodeFrame(Opcode.Pong, payload, true, false, nextMaskKey())),
          onPong: () => {},
          onClose: () => socket.end(),
          onError: () => socket.destroy(),
        }, { expectMasked: false, maxMessageSize: 1 << 20 });
        resolve();
        if (head.length > end + 4) decoder.push(head.subarray(end + 4));
      });
      socket.on('error', reject);
      socket.on('close', () => this.closed(socket));
      socket.write(`GET /push/ws?${this.tracker.query()} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
  }

  private message(text: string): void {
    const m = JSON.parse(text) as { channel?: string; id: number; event: string };
    if (m.event === 'push:gap') problems.push(`${this.tracker.label}: a gap notice at ${m.id} (WebSocket)`);
    else this.tracker.see(m.channel, m.id);
  }

  private closed(socket: net.Socket): void {
    if (socket !== this.socket || this.closing || this.tracker.away) return;
    problems.push(`${this.tracker.label}: the server closed a WebSocket`);
  }

  drop(): void {
    this.tracker.away = true;
    this.socket?.destroy();
  }

  close(): void {
    this.closing = true;
    this.socket?.destroy();
  }
}

/** An SSE subscriber on a connection of its own; resumes with Last-Event-ID. */
class SseClient implements Client {
  private req: http.ClientRequest | null = null;
  private closing = false;
  constructor(readonly tracker: Tracker) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      // The cursors go in Last-Event-ID, as EventSource's own reconnect sends them; the query asks from 0.
      const { tracker } = this;
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (tracker.received > 0) headers['Last-Event-ID'] = tracker.multiplexed ? tracker.cursor() : String(tracker.since(tracker.channels[0]!));
      const query = tracker.multiplexed ? `channels=${tracker.channels.map((c) => `${c}@0`).join(',')}` : `channel=${tracker.channels[0]}&since=0`;
      const req = http.get({ host: '127.0.0.1', port, agent: false, headers, path: `/push/sse?${query}` }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`SSE answered ${res.statusCode}`));
        res.setEncoding('utf8');
        let buffer = '';
        let started = false;
        res.on('data', (text: string) => {
          if (!started) { started = true; resolve(); }
          buffer += text;
          for (let cut = buffer.indexOf('\n\n'); cut !== -1; cut = buffer.indexOf('\n\n')) {
            const event = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const data = /^data: (.*)$/m.exec(event);
            if (!data) continue; // a comment (heartbeat), or the retry hint
            const gap = /^event: push:gap$/m.test(event);
            if (tracker.multiplexed) {
              const m = JSON.parse(data[1]!) as { channel: string; id: number };
              if (gap) problems.push(`${tracker.label}: a gap notice at ${m.channel}@${m.id} (SSE)`);
              else tracker.see(m.channel, m.id);
              continue;
            }
            const id = Number(/^id: (\d+)$/m.exec(event)?.[1]);
            if (gap) problems.push(`${tracker.label}: a gap notice at ${id} (SSE)`);
            else tracker.see(undefined, id);
          }
        });
        res.on('close', () => {
          if (req === this.req && !this.closing && !this.tracker.away) problems.push(`${this.tracker.label}: the server ended an SSE stream`);
        });
      });
      this.req = req;
      req.on('error', (err) => { if (req === this.req && !this.tracker.away && !this.closing) reject(err); });
    });
  }

  drop(): void {
    this.tracker.away = true;
    this.req?.destroy();
  }

  close(): void {
    this.closing = true;
    this.req?.destroy();
  }
}

/** A long-poll subscriber: polls again at once from its last id, on a kept-alive connection. */
class LongPollClient implements Client {
  private req: http.ClientRequest | null = null;
  private closing = false;
  constructor(readonly tracker: Tracker, private readonly agent: http.Agent) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const poll = () => {
        const req = http.get({ host: '127.0.0.1', port, agent: this.agent, path: `/push/longpoll?${this.tracker.query()}&timeout=25000` }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (text: string) => { body += text; });
          res.on('end', () => {
            if (req !== this.req) return;
            if (res.statusCode !== 200) {
              problems.push(`${this.tracker.label}: long poll answered ${res.statusCode}`);
              return;
            }
            const answer = JSON.parse(body) as { messages: { channel?: string; id: number }[]; gap: boolean | Record<string, boolean> };
            if (answer.gap === true || (typeof answer.gap === 'object' && Object.values(answer.gap).includes(true))) {
              problems.push(`${this.tracker.label}: a gap (long poll)`);
            }
            for (const m of answer.messages) this.tracker.see(m.channel, m.id);
            if (!this.closing) poll();
          });
        });
        this.req = req;
        req.on('socket', (socket: net.Socket) => {
          if (socket.connecting) socket.once('connect', () => resolve());
          else resolve();
        });
        req.on('error', (err) => { if (req === this.req && !this.closing && !this.tracker.away) reject(err); });
      };
      poll();
    });
  }

  drop(): void {
    this.tracker.away = true;
    const req = this.req;
    this.req = null;
    req?.destroy();
  }

  close(): void {
    this.closing = true;
    this.req?.destroy();
  }
}

function line(text: string): void {
  process.stdout.write(text + '\n');
}

const fileLimit = maxFileCount();
const counts = { ws: Math.round(10_000 * SCALE), longpoll: Math.round(1000 * SCALE), sse: Math.round(1000 * SCALE) };
const total = counts.ws + counts.longpoll + counts.sse;
line(`pushwire soak: node ${process.version}; ${counts.ws} WebSockets, ${counts.longpoll} long polls, ${counts.sse} SSE streams on ` +
  `${CHANNELS.length} channels; ${RATE} messages/s for ${SECONDS} s; ${(CHURN * 100).toFixed(1)} % of the clients resume each second; ` +
  `open-file limit ${fileLimit ?? 'unknown'}`);
if (fileLimit !== null && fileLimit < total + 256) {
  line(`the open-file limit (${fileLimit}) is too low for ${total} clients: raise it (ulimit -n) or pass --scale`);
  process.exit(1);
}

const started = Date.now();
const server = new Worker('soak-server.js', [], process.env, ['--expose-gc']);
({ port } = await server.request<{ port: number }>('start'));
type Stats = { websockets: number; heldPolls: number; streams: number; subscriptions: number; rss: number; heap: number; fds: number | null };
const stats = (gc = false) => server.request<Stats>('stats', { gc });
const baseline = await stats(true);

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const clients: Client[] = [];
for (let i = 0; i < total; i++) {
  // One client in four multiplexed: three channels, spread so that every channel has some.
  const names = i % 4 === 0 ? [0, 37, 71].map((k) => CHANNELS[(i + k) % CHANNELS.length]!) : [CHANNELS[i % CHANNELS.length]!];
  const tracker = new Tracker(names);
  clients.push(i < counts.ws ? new WsClient(tracker) : i < counts.ws + counts.longpoll ? new LongPollClient(tracker, agent) : new SseClient(tracker));
}
await openMany(clients.length, 200, (i) => clients[i]!.connect());
const connectedAt = Date.now();
let connected = await stats();
const subscriptionsWanted = clients.reduce((n, c) => n + c.tracker.channels.length, 0);
for (let i = 0; i < 100 && connected.subscriptions < subscriptionsWanted; i++) {
  await sleep(100);
  connected = await stats();
}
connected = await stats(true);
line(`connected in ${((connectedAt - started) / 1000).toFixed(1)} s: server holds ${connected.websockets} WebSockets, ${connected.heldPolls} long polls, ` +
  `${connected.streams} streams; RSS ${(baseline.rss / MiB).toFixed(0)} -> ${(connected.rss / MiB).toFixed(0)} MiB, descriptors ${baseline.fds} -> ${connected.fds}`);

// The run: publishing, clients dropping and resuming, RSS sampled each second.
await server.request('publish', { rate: RATE, channels: CHANNELS });
let peakRss = connected.rss;
let resumes = 0;
const runUntil = Date.now() + SECONDS * 1000;
const churn = setInterval(() => {
  for (let k = Math.round((total * CHURN) / 10); k > 0; k--) {
    const client = clients[Math.floor(Math.random() * clients.length)]!;
    if (client.tracker.away) continue;
    client.drop();
    resumes++;
    setTimeout(() => {
      client.tracker.away = false;
      client.tracker.resumes++;
      client.connect().catch((err: Error) => problems.push(`${client.tracker.label}: resume failed: ${err.message}`));
    }, Math.random() * 1000);
  }
}, 100);
while (Date.now() < runUntil) {
  await sleep(1000);
  const s = await stats();
  peakRss = Math.max(peakRss, s.rss);
}
clearInterval(churn);
if (peakRss > MAX_RSS_MIB * MiB) problems.push(`server RSS peaked at ${(peakRss / MiB).toFixed(0)} MiB, over --max-rss ${MAX_RSS_MIB}`);
const { published, last } = await server.request<{ published: number; last: Record<string, number> }>('stop-publishing');

// Every client catches up with the last id of its channel (those still away reconnect first).
const caughtUp = () => clients.every((c) => !c.tracker.away && c.tracker.caughtUp(last));
for (let waited = 0; waited < 30_000 && !caughtUp(); waited += 100) await sleep(100);
const behind = clients.filter((c) => !c.tracker.caughtUp(last));
if (behind.length > 0) {
  const t = behind[0]!.tracker;
  problems.push(`${behind.length} clients did not catch up, e.g. ${t.label} at ${t.cursor()} of ${t.channels.map((c) => last[c]).join(',')}`);
}
const end = await stats(true);
const delivered = clients.reduce((n, c) => n + c.tracker.received, 0);
const multiplexed = clients.filter((c) => c.tracker.multiplexed).length;

// Everyone leaves: the server lets go of every subscription and descriptor.
for (const c of clients) c.close();
agent.destroy();
let after = await stats();
for (let i = 0; i < 150 && (after.subscriptions > 0 || (after.fds ?? 0) > (baseline.fds ?? 0)); i++) {
  await sleep(100);
  after = await stats();
}
if (after.subscriptions > 0 || after.websockets + after.heldPolls + after.streams > 0) problems.push(`left open after everyone left: ${JSON.stringify(after)}`);
if (after.fds !== null && baseline.fds !== null && after.fds > baseline.fds) problems.push(`descriptors ${after.fds}, baseline ${baseline.fds}`);
const leftFds = after.fds;

// Then connect/disconnect cycles of each technique, 50 at once: what a connection leaves behind, many times over.
const cycleReports: CycleReport[] = [];
for (const technique of CYCLE_TECHNIQUES) {
  const report = await runCycles(port, technique, CYCLES, 50, 'soak-cycles');
  cycleReports.push(report);
  if (report.failures > 0) problems.push(`${technique} cycles: ${report.failures} failed, e.g. ${report.firstFailure}`);
}
after = await stats();
for (let i = 0; i < 150 && (after.subscriptions > 0 || (after.fds ?? 0) > (baseline.fds ?? 0)); i++) {
  await sleep(100);
  after = await stats();
}
if (after.subscriptions > 0 || after.websockets + after.heldPolls + after.streams > 0) problems.push(`left open after the cycles: ${JSON.stringify(after)}`);
if (after.fds !== null && baseline.fds !== null && after.fds > baseline.fds) problems.push(`descriptors after the cycles ${after.fds}, baseline ${baseline.fds}`);
after = await stats(true);
// What stays is the channels' retained messages (at most 1000 each), not the connections that came and went.
const retainedAllowance = 32 * MiB;
if (after.heap - baseline.heap > retainedAllowance) {
  problems.push(`the heap after everyone left is ${((after.heap - baseline.heap) / MiB).toFixed(1)} MiB above the start`);
}
await server.stop();

line(`published ${published} messages in ${SECONDS} s; delivered ${delivered} (each client every message of its channels; ${multiplexed} clients on 3 channels each); ${resumes} drops and resumes`);
line(`server RSS: ${(baseline.rss / MiB).toFixed(0)} MiB at start, ${(connected.rss / MiB).toFixed(0)} MiB connected, peak ${(peakRss / MiB).toFixed(0)} MiB, ` +
  `${(end.rss / MiB).toFixed(0)} MiB at the end of the run, ${(after.rss / MiB).toFixed(0)} MiB after everyone left`);
line(`server heap after GC: ${(baseline.heap / MiB).toFixed(1)} MiB at start, ${(connected.heap / MiB).toFixed(1)} MiB connected, ` +
  `${(end.heap / MiB).toFixed(1)} MiB at the end of the run, ${(after.heap / MiB).toFixed(1)} MiB after everyone left`);
line(`server descriptors: ${baseline.fds} at start, ${connected.fds} connected, ${leftFds} after everyone left, ${after.fds} after the cycles`);
line(`connect/disconnect cycles: ${cycleReports.map((r) => `${r.cycles} ${r.technique} in ${(r.ms / 1000).toFixed(1)} s`).join(', ')}`);
for (const p of problems.slice(0, 20)) line(`PROBLEM: ${p}`);
if (problems.length > 20) line(`... and ${problems.length - 20} more`);
line(`${problems.length === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(problems.length === 0 ? 0 : 1);
