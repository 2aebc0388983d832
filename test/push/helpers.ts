// Test clients for the five push techniques, over real sockets.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createPushwireServer, type PushwireServer } from '../../src/pushwire-server.js';
import type { PushApi, PushMessage, PushOptions } from '../../src/push/index.js';
import { syncView } from '../../src/push/log.js';
import { dataToJson } from '../../src/push/message.js';
import { connect } from '../../src/websocket/client.js';
import type { WebSocket } from '../../src/websocket/websocket.js';

export interface Msg { id: number; event: string; data: unknown }

export interface TestServer {
  server: PushwireServer;
  port: number;
  base: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Publishes on the server's in-memory log and returns the message at once,
 * delivered already (PushApi.publish resolves a turn later): for tests that
 * interleave publishes with what they expect, in one synchronous run.
 */
export function publishNow(push: PushApi, channel: string, event: string, data: unknown): PushMessage {
  const log = syncView(push.log);
  if (log === null) throw new Error('publishNow needs the in-memory log');
  return log.publish(channel, event, dataToJson(data));
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pushwire-push-'));
}

/** createPushwireServer on port 0 with a temp data dir (or the one given). */
export async function startServer(push: PushOptions = {}, dataDir = tempDir()): Promise<TestServer> {
  const server = createPushwireServer(
    { port: 0, host: '127.0.0.1', capacity: 100, dataDir, maxMessage: 1024 * 1024 },
    { push, log: () => {} },
  );
  const { port } = await server.listen();
  return {
    server, port, dataDir,
    base: `http://127.0.0.1:${port}`,
    stop: () => server.shutdown(),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every few ms until true, or fails after `ms`. */
export async function until(check: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export interface HttpAnswer { status: number; headers: http.IncomingHttpHeaders; body: string; json: any }

export function request(url: string, options: http.RequestOptions & { body?: string | Buffer } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        try { json = JSON.parse(body); } catch { /* not JSON */ }
        resolve({ status: res.statusCode!, headers: res.headers, body, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Messages as they arrive, with a way to wait for the n-th. */
export class Inbox {
  readonly messages: Msg[] = [];
  private waiters: Array<() => void> = [];

  push(message: Msg): void {
    this.messages.push(message);
    for (const wake of this.waiters.splice(0)) wake();
  }

  async waitFor(count: number, ms = 5000): Promise<Msg[]> {
    const end = Date.now() + ms;
    while (this.messages.length < count) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages, got ${this.messages.length}: ${JSON.stringify(this.messages.map((m) => m.id))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return this.messages.slice(0, count);
  }

  /**
   * Waits for the message with this id and returns every message so far. Publish a sentinel
   * after the messages under test and wait for it: on one ordered stream, a duplicate of
   * an earlier message would have arrived before it, so counting then misses nothing.
   */
  async waitForId(id: number, ms = 5000): Promise<Msg[]> {
    const end = Date.now() + ms;
    let checked = 0;
    for (;;) {
      for (; checked < this.messages.length; checked++) if (this.messages[checked]!.id === id) return this.messages.slice();
      const left = end - Date.now();
      if (left <= 0) throw new Error(`expected a message with id ${id}, got ${JSON.stringify(this.ids)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  get ids(): number[] { return this.messages.map((m) => m.id); }
}

/** A subscription on any technique: messages land in `inbox`. */
export interface Sub {
  readonly inbox: Inbox;
  /** Resolves once the subscription is in place on the server (head received, upgrade done, first poll sent). */
  readonly ready: Promise<void>;
  close(): void;
}

export type Technique = 'poll' | 'longpoll' | 'sse' | 'iframe' | 'ws';
export const TECHNIQUES: Technique[] = ['poll', 'longpoll', 'sse', 'iframe', 'ws'];

function query(channel: string, since: number | null): string {
  return `channel=${encodeURIComponent(channel)}` + (since === null ? '' : `&since=${since}`);
}

/** Short or long polling in a loop, each request with the last id seen. */
export function openPolling(base: string, kind: 'poll' | 'longpoll', channel: string, since: number, agent?: http.Agent): Sub & { gaps: number } {
  const inbox = new Inbox();
  let cursor = since;
  let stopped = false;
  let current: http.ClientRequest | null = null;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const sub = { inbox, ready, gaps: 0, close() { stopped = true; current?.destroy(); } };
  const once = (): Promise<{ messages: Msg[]; last: number; gap: boolean }> => new Promise((resolve, reject) => {
    current = http.get(`${base}/push/${kind}?${query(channel, cursor)}${kind === 'longpoll' ? '&timeout=10000' : ''}`, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${kind}: HTTP ${res.statusCode} ${Buffer.concat(chunks)}`));
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      });
      res.on('error', reject);
    });
    current.on('error', reject);
    markReady();
  });
  void (async () => {
    while (!stopped) {
      let answer;
      try {
        answer = await once();
      } catch (err) {
        if (!stopped) console.error(err);
        return;
      }
      if (answer.gap) sub.gaps++;
      for (const m of answer.messages) {
        inbox.push(m);
        cursor = m.id;
      }
      if (kind === 'poll') await sleep(10);
    }
  })();
  return sub;
}

/** An HTTP stream (SSE or iframe) parsed as it arrives. */
export function openStream(base: string, kind: 'sse' | 'iframe', channel: string, since: number | null,
  options: { headers?: Record<string, string>; callback?: string } = {}): Sub & { raw: () => string; response: Promise<http.IncomingMessage>; ended: Promise<void> } {
  const inbox = new Inbox();
  let text = '';
  let parsedTo = 0;
  const callback = options.callback ?? 'pw.deliver';
  const url = `${base}/push/${kind}?${query(channel, since)}${kind === 'iframe' ? `&callback=${callback}` : ''}`;
  let resolveResponse!: (res: http.IncomingMessage) => void;
  let resolveEnded!: () => void;
  const response = new Promise<http.IncomingMessage>((resolve) => (resolveResponse = resolve));
  const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
  const req = http.get(url, { headers: options.headers ?? {} }, (res) => {
    res.setEncoding('utf8');
    resolveResponse(res);
    res.on('data', (chunk: string) => {
      text += chunk;
      parsedTo = kind === 'sse' ? parseSse(text, parsedTo, inbox) : parseIframe(text, parsedTo, inbox, callback);
    });
    res.on('end', resolveEnded);
    res.on('close', resolveEnded);
    res.on('error', () => resolveEnded());
  });
  req.on('error', () => resolveEnded());
  return {
    inbox, response, ended,
    ready: response.then(() => undefined),
    raw: () => text,
    close: () => req.destroy(),
  };
}

function parseSse(text: string, from: number, inbox: Inbox): number {
  for (;;) {
    const end = text.indexOf('\n\n', from);
    if (end === -1) return from;
    const block = text.slice(from, end);
    from = end + 2;
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      fields[name] = fields[name] === undefined ? value : fields[name] + '\n' + value;
    }
    if (fields.data === undefined) continue;
    inbox.push({ id: Number(fields.id), event: fields.event ?? 'message', data: JSON.parse(fields.data) });
  }
}

function parseIframe(text: string, from: number, inbox: Inbox, callback: string): number {
  const open = `<script>parent.${callback}(`;
  const close = ')</script>';
  for (;;) {
    const start = text.indexOf(open, from);
    if (start === -1) return from;
    const end = text.indexOf(close, start);
    if (end === -1) return from;
    inbox.push(JSON.parse(text.slice(start + open.length, end)) as Msg);
    from = end + close.length;
  }
}

/** A /push/ws subscription with the project's own client. */
export function openWs(base: string, channel: string, since: number | null): Sub & { ws: WebSocket; closed: Promise<{ code: number; reason: string }> } {
  const inbox = new Inbox();
  const ws = connect(`${base.replace('http', 'ws')}/push/ws?${query(channel, since)}`);
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error('closed before open')));
  });
  ready.catch(() => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('message', (data: Buffer) => inbox.push(JSON.parse(data.toString('utf8')) as Msg));
  ws.on('error', () => {});
  return { inbox, ws, ready, closed, close: () => ws.close(1000) };
}

export function open(technique: Technique, base: string, channel: string, since: number): Sub {
  switch (technique) {
    case 'poll':
    case 'longpoll': return openPolling(base, technique, channel, since);
    case 'sse':
    case 'iframe': return openStream(base, technique, channel, since);
    case 'ws': return openWs(base, channel, since);
  }
}
