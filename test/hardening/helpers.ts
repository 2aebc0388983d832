// Shared by the attack tests: a server in a child process, raw exchanges, a
// well-behaved client that measures its latency while the attacks run.
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { startServer as spawnServer, tempDataDir, type Started } from '../cli/helpers.js';

export interface Server extends Started {
  base: string;
  /** Sends SIGTERM and waits for the exit; the exit code. */
  stop(): Promise<number | null>;
}

/** `node dist/server.js --port 0 --data-dir <tmp> ...args` (on 127.0.0.1). */
export async function startServer(args: string[] = []): Promise<Server> {
  const started = await spawnServer(['--port', '0', '--data-dir', tempDataDir(), ...args]);
  return {
    ...started,
    base: `http://127.0.0.1:${started.port}`,
    async stop() {
      if (started.child.exitCode === null) started.child.kill('SIGTERM');
      return (await started.exited).code;
    },
  };
}

export interface RawAnswer {
  /** Everything the server sent, as latin1 text. */
  text: string;
  /** The status of the first answer, or null if none came. */
  status: number | null;
  /** The JSON body of the first answer, if it had one. */
  json: any;
  /** ms from the start (connect, or `since`) to the close. */
  closedAfter: number;
}

export interface RawOptions {
  localAddress?: string;
  /** Give up (destroy, reject) after this long. */
  timeout?: number;
  /** Half-close after writing (the server then sees the end of the request stream). */
  end?: boolean;
}

/** Writes `bytes` on a fresh connection and collects everything until the server closes it. */
export function rawExchange(port: number, bytes: Buffer | string, options: RawOptions = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress }, () => {
      if (bytes.length > 0) socket.write(bytes);
      if (options.end) socket.end();
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {}); // a reset after the answer is still an answer
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${options.timeout} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 120))}`));
    }, options.timeout ?? 10_000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseAnswer(Buffer.concat(chunks).toString('latin1'), Date.now() - started));
    });
  });
}

export function parseAnswer(text: string, closedAfter: number): RawAnswer {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  let json: unknown;
  const split = text.indexOf('\r\n\r\n');
  if (m && split !== -1) {
    const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split));
    const body = length ? text.slice(split + 4, split + 4 + Number(length[1])) : '';
    try {
      json = JSON.parse(Buffer.from(body, 'latin1').toString('utf8'));
    } catch {
      json = undefined;
    }
  }
  return { text, status: m ? Number(m[1]) : null, json, closedAfter };
}

/** An RFC 6455 upgrade request head for `path`, with extra header lines. */
export function upgradeHead(path: string, headers: Record<string, string> = {}, host = '127.0.0.1'): string {
  let head = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return head + '\r\n';
}

/** Opens a connection that sends an upgrade and resolves once the status line is in (the socket stays open). */
export function openUpgrade(port: number, path: string, localAddress?: string, headers: Record<string, string> = {}): Promise<{ status: number; socket: net.Socket; text: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress }, () => socket.write(upgradeHead(path, headers, `127.0.0.1:${port}`)));
    let text = '';
    let settled = false;
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.setEncoding('latin1');
    socket.on('error', (err) => { if (!settled) { settled = true; reject(err); } });
    socket.on('data', (chunk: string) => {
      text += chunk;
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
      if (m && !settled && text.includes('\r\n\r\n')) {
        settled = true;
        resolve({ status: Number(m[1]), socket, text: () => text, closed });
      }
    });
    socket.on('close', () => { if (!settled) { settled = true; reject(new Error(`closed without an answer: ${JSON.stringify(text)}`)); } });
  });
}

/** The value of a sample in a /metrics text (0 when absent). */
export function metric(text: string, sample: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
  }
  return 0;
}

export async function scrape(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics: ${res.status}`);
  return res.text();
}

/**
 * Scrapes until `check` holds for the metrics text (the server closes sockets
 * a moment after the clients do); returns the last text, or throws with it.
 */
export async function scrapeUntil(base: string, check: (text: string) => boolean, what: string, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = await scrape(base);
    if (check(text)) return text;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface LatencyReport {
  requests: number;
  failures: string[];
  p50: number;
  p99: number;
  max: number;
}

/**
 * A client that behaves, in a worker thread of its own so that what it
 * measures is the server's latency, not the attack code's hold on the test's
 * event loop: one kept-alive HTTP connection asking for the registration
 * count and one WebSocket on /echo, each in a loop, from `localAddress`
 * (well-behaved-worker.ts). Its connections are open before the attack
 * starts, as those of clients already being served.
 */
export class WellBehavedClient {
  private constructor(private readonly worker: Worker) {}

  static async start(base: string, options: { localAddress?: string; http?: boolean; ws?: boolean } = {}): Promise<WellBehavedClient> {
    const worker = new Worker(new URL('./well-behaved-worker.js', import.meta.url), {
      workerData: { base, localAddress: options.localAddress ?? '127.0.0.3', http: options.http !== false, ws: options.ws !== false },
    });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : reject(new Error(m.error))));
      worker.once('error', reject);
    });
    return new WellBehavedClient(worker);
  }

  /** Stops, closes its connections, and reports. */
  async stop(): Promise<LatencyReport> {
    const report = new Promise<LatencyReport>((resolve) => this.worker.once('message', resolve));
    this.worker.postMessage('stop');
    const result = await report;
    await this.worker.terminate();
    return result;
  }
}

/** One line for the test output. */
export function describeLatency(what: string, report: LatencyReport): string {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return `well-behaved client during ${what}: ${report.requests} round trips, p50 ${ms(report.p50)}, p99 ${ms(report.p99)}, max ${ms(report.max)}, ${report.failures.length} failures`;
}

/** Runs `attack` while a well-behaved client is served; prints and checks its latency. */
export async function whileServing<T>(
  t: { diagnostic(message: string): void }, base: string, what: string, attack: () => Promise<T>,
  options: { localAddress?: string; http?: boolean; ws?: boolean; maxLatency?: number } = {},
): Promise<T> {
  const client = await WellBehavedClient.start(base, options);
  let result: T;
  try {
    result = await attack();
  } finally {
    const report = await client.stop();
    const line = describeLatency(what, report);
    t.diagnostic(line);
    if (report.failures.length > 0) throw new Error(`the well-behaved client failed: ${report.failures.slice(0, 5).join('; ')}`);
    if (report.requests === 0) throw new Error('the well-behaved client made no round trip');
    // Generous: the machine is shared; a server that stalls for seconds still fails this.
    const bound = options.maxLatency ?? 2000;
    if (report.max > bound) throw new Error(`${line}: a round trip took over ${bound} ms`);
  }
  return result;
}
