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
import { parseIframeCalls, parseSseEvents, pollLoop, readStream, watchPushWs } from './wire.js';

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
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const sub = { inbox, ready, gaps: 0, close: () => loop.close() };
  const loop = pollLoop(kind, () => `${base}/push/${kind}?${query(channel, cursor)}${kind === 'longpoll' ? '&timeout=10000' : ''}`, agent, 10, {
    sent: () => markReady(),
    answer(answer: { messages: Msg[]; last: number; gap: boolean }) {
      if (answer.gap) sub.gaps++;
      for (const m of answer.messages) {
        inbox.push(m);
        cursor = m.id;
      }
    },
  });
  return sub;
}

/** An HTTP stream (SSE or iframe) parsed as it arrives. */
export function openStream(base: string, kind: 'sse' | 'iframe', channel: string, since: number | null,
  options: { headers?: Record<string, string>; callback?: string } = {}): Sub & { raw: () => string; response: Promise<http.IncomingMessage>; ended: Promise<void> } {
  const inbox = new Inbox();
  let parsedTo = 0;
  const callback = options.callback ?? 'pw.deliver';
  const url = `${base}/push/${kind}?${query(channel, since)}${kind === 'iframe' ? `&callback=${callback}` : ''}`;
  const { req, response, ended, raw } = readStream(url, { headers: options.headers }, (text) => {
    parsedTo = kind === 'sse'
      ? parseSseEvents(text, parsedTo, (fields) => {
        if (fields.data !== undefined) inbox.push({ id: Number(fields.id), event: fields.event ?? 'message', data: JSON.parse(fields.data) });
      })
      : parseIframeCalls(text, parsedTo, callback, (m) => inbox.push(m as Msg));
  });
  return {
    inbox, response, ended, raw,
    ready: response.then(() => undefined),
    close: () => req.destroy(),
  };
}

/** A /push/ws subscription with the project's own client. */
export function openWs(base: string, channel: string, since: number | null): Sub & { ws: WebSocket; closed: Promise<{ code: number; reason: string }> } {
  const inbox = new Inbox();
  const ws = connect(`${base.replace('http', 'ws')}/push/ws?${query(channel, since)}`);
  const { ready, closed } = watchPushWs(ws, (m) => inbox.push(m as Msg));
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
