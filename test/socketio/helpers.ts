// Raw Engine.IO / Socket.IO clients for the protocol tests, over real sockets on 127.0.0.1.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { io as connectClient, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { WebSocket as WsClient } from 'ws';
import { createPushwireServer, type PushwireServer, type PushwireServerOptions } from '../../src/pushwire-server.js';
import type { Socket as ServerSocket } from '../../src/socketio/index.js';
import type { WebSocketTransport } from '../../src/socketio/websocket-transport.js';

/** A WebSocket whose messages are read in order with next(), as the protocol suites' waitFor does. */
export class RawSocket {
  readonly ws: WsClient;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly inbox: Array<string | Buffer> = [];
  private readonly waiters: Array<(m: string | Buffer) => void> = [];
  /** Set by the handshake's error answer, when the server refuses the upgrade. */
  refusal: { status: number; body: string } | null = null;

  constructor(url: string) {
    this.ws = new WsClient(url);
    this.ws.binaryType = 'nodebuffer';
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        this.refusal = { status: res.statusCode ?? 0, body };
        this.ws.emit('close', 1006, Buffer.alloc(0));
      });
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      const message = isBinary ? data : data.toString('utf8');
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.inbox.push(message);
    });
  }

  /** The next message (a string for text, a Buffer for binary). */
  next(timeout = 3000): Promise<string | Buffer> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(wake);
        if (i !== -1) this.waiters.splice(i, 1);
        reject(new Error('no message within ' + timeout + ' ms'));
      }, timeout);
      const wake = (m: string | Buffer) => { clearTimeout(timer); resolve(m); };
      this.waiters.push(wake);
    });
  }

  /** The next messages that are not pings ("2"), as the Socket.IO suite's waitForPackets. */
  async packets(count: number): Promise<Array<string | Buffer>> {
    const out: Array<string | Buffer> = [];
    while (out.length < count) {
      const m = await this.next();
      if (m !== '2') out.push(m);
    }
    return out;
  }

  send(data: string | Buffer | Uint8Array): void {
    this.ws.send(data);
  }

  close(): void {
    this.ws.close();
  }
}

/** Resolves with what a promise gives, or rejects after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); }),
  ]);
}

export interface Answer { status: number; body: string; headers: http.IncomingHttpHeaders }

/** One HTTP request; the body read as UTF-8. */
export function request(url: string, options: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}

/** A long-polling session opened with a handshake GET; its sid. */
export async function openPolling(base: string): Promise<string> {
  const answer = await request(`${base}?EIO=4&transport=polling`);
  if (answer.status !== 200) throw new Error(`handshake answered ${answer.status}: ${answer.body}`);
  return JSON.parse(answer.body.slice(1)).sid;
}

/** A long-polling session and a WebSocket opened with its sid, before any probe. */
export async function openUpgradeSocket(base: string): Promise<{ sid: string; socket: RawSocket }> {
  const sid = await openPolling(base);
  const socket = new RawSocket(`${base.replace('http', 'ws')}?EIO=4&transport=websocket&sid=${sid}`);
  await socket.opened;
  return { sid, socket };
}

/**
 * A long-polling session upgraded to WebSocket, `2probe` and `5` sent together: resolves once
 * `3probe` came back and `upgraded(sid)` (the server's state) holds.
 */
export async function upgradedSession(base: string, upgraded: (sid: string) => boolean): Promise<{ sid: string; socket: RawSocket }> {
  const { sid, socket } = await openUpgradeSocket(base);
  socket.send('2probe');
  socket.send('5');
  assert.equal(await socket.next(), '3probe');
  await waitUntil(() => upgraded(sid));
  return { sid, socket };
}

/** Waits, a turn of the event loop at a time, until `check` holds (the server's own state as the sentinel). */
export async function waitUntil(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

// ---- the whole pushwire server, and socket.io-client 4 against it ----------


export type { ClientSocket };

export interface Running {
  server: PushwireServer;
  base: string;
  stop(): Promise<void>;
}

/** createPushwireServer on 127.0.0.1, a free port and a temp data dir. */
export async function startPushwire(options: PushwireServerOptions = {}): Promise<Running> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushwire-sio-'));
  const server = createPushwireServer(
    { port: 0, host: '127.0.0.1', capacity: 100, dataDir, maxMessage: 16 * 1024 * 1024 },
    { log: () => {}, ...options },
  );
  const { port } = await server.listen();
  return {
    server,
    base: `http://127.0.0.1:${port}`,
    async stop() {
      await server.shutdown();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Every client socket the tests opened, closed by closeClients() whatever a test left open. */
const openClients = new Set<ClientSocket>();

export function closeClients(): void {
  for (const socket of openClients) socket.close();
  openClients.clear();
}

/**
 * A socket.io-client socket, connected; reconnection fast and without jitter,
 * so tests wait little. `listen` adds listeners before it connects (events
 * may come in the same poll answer as the CONNECT).
 */
export async function connectSocket(url: string, options: Partial<ManagerOptions & SocketOptions> = {}, listen?: (socket: ClientSocket) => void): Promise<ClientSocket> {
  const socket = connectClient(url, { reconnectionDelay: 20, reconnectionDelayMax: 100, randomizationFactor: 0, forceNew: true, autoConnect: false, ...options });
  openClients.add(socket);
  listen?.(socket);
  socket.connect();
  await within(new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  }), 5000, `connect to ${url}`);
  return socket;
}

/** Resolves with the arguments of the next `event` on an emitter-like object. */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: { once(event: string, fn: (...args: any[]) => void): unknown }, event: string, ms = 5000): Promise<T> {
  return within(new Promise<T>((resolve) => { emitter.once(event, (...args: unknown[]) => resolve(args as T)); }), ms, `event ${event}`);
}

/** Collects the first argument of every `event` a client socket gets, with a way to wait for the n-th. */
export class Collector<T = unknown> {
  readonly items: T[] = [];
  private readonly waiters: Array<() => void> = [];

  constructor(socket: ClientSocket, event: string) {
    socket.on(event, (value: T) => {
      this.items.push(value);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  async waitFor(count: number, ms = 5000): Promise<T[]> {
    const end = Date.now() + ms;
    while (this.items.length < count) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`expected ${count} items, have ${this.items.length}: ${JSON.stringify(this.items).slice(0, 300)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return this.items.slice(0, count);
  }
}

/** Cuts a connection as a network failure would: the TCP socket of a WebSocket destroyed, a polling session dropped. */
export function cut(socket: ServerSocket): void {
  const transport = socket.conn.transport;
  if (transport.name === 'websocket') (transport as WebSocketTransport).ws.terminate();
  else socket.conn.abort('transport error');
}
