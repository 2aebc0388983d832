/**
 * The pipelining mode of `npm run fuzz`: each case opens a connection, writes
 * a seeded random run of 1 to 40 requests of every path back to back (streams,
 * long and short polls, upgrades, POSTs, static files, Socket.IO, now and then
 * a malformed one), in one write or cut in pieces, then closes — at once,
 * after the first answer bytes, or after a short wait; half-closing or
 * resetting. Checked: the server never exits or logs a failure, a probe is
 * answered throughout, and at the end every pushwire gauge (connections,
 * WebSockets, subscriptions and held polls by technique, channels) and the
 * process's open file descriptors are back to their baseline
 * (docs/PROTOCOL.md §6.1: what a closed connection held is released).
 */
import http from 'node:http';
import net from 'node:net';
import { startServer, type Server } from '../test/hardening/helpers.js';
import { prng, randomRequest, SHAPES } from '../test/hardening/random-requests.js';
import { caseSeed, SERVER_ARGS } from './fuzz-http.js';

const CONCURRENCY = 24;
type Rand = () => number;

const pick = <T>(rand: Rand, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

/** One well-formed request of a path a client may pipeline (channels named per case, so releases are visible). */
function request(rand: Rand, tag: string): string {
  const ch = `fz${tag}-${Math.floor(rand() * 4)}`;
  const head = (method: string, path: string, extra = ''): string => `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
  const channels = Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, i) => `${ch}x${i}@0`).join(',');
  switch (Math.floor(rand() * 15)) {
    case 0: return head('GET', `/push/sse?channel=${ch}`);
    case 1: return head('GET', `/push/sse?channels=${channels}`, 'Last-Event-ID: 3\r\n');
    case 2: return head('GET', `/push/iframe?channel=${ch}&since=0&callback=cb`);
    case 3: return head('GET', `/push/longpoll?channel=${ch}&timeout=${pick(rand, [0, 50, 5000, 30000])}`);
    case 4: return head('GET', `/push/longpoll?channels=${channels}&timeout=20000`);
    case 5: return head('GET', `/push/poll?channels=${channels}`);
    case 6: return head('GET', `/push/ws?channel=${ch}`, 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n');
    case 7: {
      const body = JSON.stringify({ event: 'chat message', data: 'fuzz' });
      return head('POST', '/push/emit', `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`) + body;
    }
    case 8: return head('GET', '/api/registrations');
    case 9: return head('GET', '/socket.io/?EIO=4&transport=polling');
    case 10: return head('GET', pick(rand, ['/', '/push.js', '/metrics', '/nowhere']), pick(rand, ['', 'Accept-Encoding: gzip\r\n']));
    case 11: return head('HEAD', `/push/sse?channel=${ch}`);
    case 12: return head('GET', '/echo', 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n');
    case 13: return head('OPTIONS', '/push/poll');
    default: return randomRequest(rand, pick(rand, ['/push/sse?channel=c', '/push/longpoll?channel=c&timeout=50', '/push/emit']), pick(rand, SHAPES)).bytes.toString('latin1');
  }
}

export interface PipelineCase { bytes: Buffer; cuts: number[]; close: 'now' | 'first bytes' | 'wait'; reset: boolean; wait: number }

export function pipelineCase(seed: number, index: number): PipelineCase {
  const rand = prng(caseSeed(seed ^ 0x7f4a7c15, index));
  const n = 1 + Math.floor(rand() ** 2 * 40);
  let text = '';
  for (let i = 0; i < n; i++) text += request(rand, String(index % 97));
  const bytes = Buffer.from(text, 'latin1');
  const cuts = rand() < 0.5 ? [] : Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * bytes.length)).sort((a, b) => a - b);
  return { bytes, cuts, close: pick(rand, ['now', 'first bytes', 'wait'] as const), reset: rand() < 0.5, wait: Math.floor(rand() * 300) };
}

/** Plays one case; resolves when the socket is closed. */
export function play(port: number, c: PipelineCase): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    const finish = (): void => {
      if (c.reset) socket.resetAndDestroy();
      else socket.end(() => setTimeout(() => socket.destroy(), 500).unref());
    };
    socket.on('connect', () => {
      let at = 0;
      for (const cut of [...c.cuts, c.bytes.length]) {
        if (cut > at) socket.write(c.bytes.subarray(at, cut));
        at = Math.max(at, cut);
      }
      if (c.close === 'now') finish();
      else if (c.close === 'wait') setTimeout(finish, c.wait);
      else {
        socket.once('data', finish);
        setTimeout(finish, 1000); // nothing came (every request refused late): close anyway
      }
    });
  });
}

/** GET /metrics on a connection of its own, closed after: no kept-alive socket to race the server's idle close. */
export function scrape(base: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(`${base}/metrics`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`/metrics: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

/** The samples of every gauge that must come back: the pushwire_ ones and the open file descriptors. */
export function gauges(text: string): Map<string, number> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) gauge$/gm)) if (m[1]!.startsWith('pushwire_') || m[1] === 'process_open_fds') names.add(m[1]!);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && names.has(m[1]!)) out.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

export function differences(baseline: Map<string, number>, now: Map<string, number>): string[] {
  const out: string[] = [];
  // Only what is above: the warm-up's kept-alive connection may have closed meanwhile.
  for (const [key, value] of now) if (value > (baseline.get(key) ?? 0)) out.push(`${key} ${baseline.get(key) ?? 0} → ${value}`);
  return out;
}

export interface PipelineFuzzResult { cases: number; requests: number; problems: string[] }

export async function fuzzPipelining(seed: number, deadline: number, only: number | null, log: (line: string) => void): Promise<PipelineFuzzResult> {
  const server: Server = await startServer(SERVER_ARGS);
  const problems: string[] = [];
  let stopping = false;
  const exited = server.exited.then(({ code, signal }) => {
    if (!stopping) problems.push(`the server exited (code ${code}, signal ${signal}); stderr:\n${server.stderr()}`);
  });
  const crashed = () => server.child.exitCode !== null || server.child.signalCode !== null;
  // The channels a message goes to exist from then on: made before the baseline.
  await fetch(`${server.base}/push/emit`, { method: 'POST', headers: { 'Content-Type': 'application/json', Connection: 'close' }, body: '{"event":"chat message","data":"warm"}' });
  const baseline = gauges(await scrape(server.base));

  let next = only ?? 0;
  const last = only ?? Infinity;
  let cases = 0;
  let requests = 0;
  const worker = async () => {
    while (next <= last && Date.now() < deadline && problems.length === 0 && !crashed()) {
      const index = next++;
      const c = pipelineCase(seed, index);
      if (only !== null) log(`case ${index}: ${c.bytes.length} bytes, cuts ${c.cuts.join(',') || 'none'}, close ${c.close}${c.close === 'wait' ? ` ${c.wait} ms` : ''}, ${c.reset ? 'reset' : 'FIN'}\n  ${JSON.stringify(c.bytes.toString('latin1').slice(0, 600))}`);
      await play(server.port, c);
      cases++;
      requests += c.bytes.toString('latin1').split(' HTTP/1.1\r\n').length - 1;
      if (cases % 1000 === 0) log(`  pipelining: ${cases} cases`);
    }
  };
  const prober = async () => {
    while (next <= last && Date.now() < deadline && problems.length === 0 && !crashed()) {
      const ok = await new Promise<boolean>((resolve) => {
        const req = http.get(`${server.base}/api/registrations`, { agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode === 200)); });
        req.setTimeout(5000, () => req.destroy());
        req.on('error', () => resolve(false));
      });
      if (!ok) problems.push('the probe GET /api/registrations was not answered 200 within 5 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await Promise.all([...Array.from({ length: only === null ? CONCURRENCY : 1 }, worker), prober()]);

  if (problems.length === 0 && !crashed()) {
    if (/failed|Error|\bat /.test(server.stderr())) problems.push(`the server logged a failure:\n${server.stderr()}`);
    // Releases are within 2 s of a close; an idle kept-alive scrape connection is not one of ours.
    const until = Date.now() + 5000;
    for (;;) {
      const diff = differences(baseline, gauges(await scrape(server.base)));
      if (diff.length === 0) break;
      if (Date.now() > until) {
        problems.push(`gauges not back to their baseline 5 s after the last case closed: ${diff.join(', ')}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  stopping = true;
  if (!crashed()) await server.stop();
  await exited;
  return { cases, requests, problems };
}
