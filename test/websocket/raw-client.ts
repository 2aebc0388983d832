/**
 * A deliberately dumb WebSocket client for conformance tests: it writes
 * whatever bytes a test makes (bad frames included) over a raw node:net
 * socket, and parses what the server sends back, frame by frame, without
 * any of the checks of the code under test.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { createPushwireServer, type PushwireServer } from '../../src/pushwire-server.js';
import { DEFAULTS } from '../../src/config.js';

export const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface Frame {
  fin: boolean;
  rsv: number; // the three RSV bits as a number 0..7 (RSV1 = 4)
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** RSV bits 0..7 (4 = RSV1, 2 = RSV2, 1 = RSV3). */
  rsv?: number;
  /** true (default): a random key; false: unmasked; a Buffer: that key. */
  mask?: boolean | Buffer;
  /** Declare this payload length in the header instead of the real one (header-only tricks). */
  declaredLength?: number;
}

/** Builds one frame byte by byte, with the minimal length encoding unless told otherwise. */
export function frame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : spec.payload ?? Buffer.alloc(0);
  const len = spec.declaredLength ?? payload.length;
  const key = spec.mask === false ? null : Buffer.isBuffer(spec.mask) ? spec.mask : randomBytes(4);
  const lenBytes = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const head = Buffer.alloc(2 + lenBytes + (key ? 4 : 0));
  head[0] = (spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) << 4) | spec.opcode;
  head[1] = (key ? 0x80 : 0) | (lenBytes === 0 ? len : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) head.writeUInt16BE(len, 2);
  if (lenBytes === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!key) return Buffer.concat([head, payload]);
  key.copy(head, 2 + lenBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([head, body]);
}

/** A close frame payload: the code (if any) and reason bytes. */
export function closeBody(code?: number, reason: Buffer | string = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  head: string;
}

function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '');
  assert.ok(m, `not an HTTP/1.1 status line: ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers };
}

/**
 * Sends raw request bytes and reads one answer: until the server closes, or
 * until the head and its Content-Length body are in and the server keeps the
 * connection alive (a plain request it did not take as an upgrade). `closed`
 * says which. An answer with `Connection: close` is read until the server does
 * close. After `timeout` ms with no complete answer (or no promised close) it fails.
 */
export function rawHttp(port: number, request: string | Buffer, timeout = 3000): Promise<HttpAnswer & { closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      reject(new Error(`no complete answer (or no close after Connection: close) within ${timeout} ms: ${Buffer.concat(chunks).toString('latin1').slice(0, 300)}`));
    }, timeout);
    const finish = (closed: boolean): boolean => {
      const all = Buffer.concat(chunks).toString('latin1');
      const end = all.indexOf('\r\n\r\n');
      if (end === -1) {
        if (closed) { settled = true; clearTimeout(timer); reject(new Error(`no HTTP answer: ${JSON.stringify(all.slice(0, 300))}`)); }
        return closed;
      }
      const head = all.slice(0, end);
      let parsed;
      try {
        parsed = parseHead(head);
      } catch (err) {
        settled = true; clearTimeout(timer); socket.destroy(); reject(err);
        return true;
      }
      const body = all.slice(end + 4);
      const length = Number(parsed.headers['content-length']);
      if (!closed && !(Number.isFinite(length) && Buffer.byteLength(body, 'latin1') >= length)) return false;
      if (!closed && /\bclose\b/i.test(parsed.headers.connection ?? '')) return false; // the close follows
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parsed, head, body: Buffer.from(body, 'latin1').toString('utf8'), closed });
      return true;
    };
    socket.on('data', (c) => {
      chunks.push(c);
      if (!settled) finish(false);
    });
    socket.on('error', () => {});
    socket.on('close', () => { if (!settled) finish(true); });
    socket.write(request);
  });
}

/** A GET upgrade request with the usual headers; `headers` replaces or (value null) removes some. */
export function upgradeRequest(path = '/echo', headers: Record<string, string | null> = {}, method = 'GET'): string {
  const base: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
  };
  for (const [k, v] of Object.entries(headers)) {
    const existing = Object.keys(base).find((b) => b.toLowerCase() === k.toLowerCase());
    if (existing) delete base[existing];
    base[k] = v;
  }
  let text = `${method} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(base)) if (v !== null) text += `${k}: ${v}\r\n`;
  return text + '\r\n';
}

const open = new Set<RawClient>();

/** Destroys every raw client still open (call in after()). */
export function destroyAllRawClients(): void {
  for (const c of open) c.socket.destroy();
  open.clear();
}

export class RawClient {
  readonly socket: net.Socket;
  status = 0;
  headers: Record<string, string> = {};
  /** Every byte received after the handshake, in order (for captures). */
  readonly received: Buffer[] = [];
  ended = false;
  closed = false;
  /** When 'end' (the server's FIN) or 'close' was first seen. */
  endedAt = 0;
  writeError: Error | null = null;

  private chunks: Buffer[] = [];
  private total = 0;
  private frames: Frame[] = [];
  private waiters: Array<() => void> = [];
  private readonly endWaiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
  }

  /** Connects and performs the opening handshake; the answer must be 101. */
  static async connect(port: number, path = '/echo', headers: Record<string, string | null> = {}, options: { recordBytes?: boolean } = {}): Promise<RawClient> {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const client = new RawClient(socket);
    open.add(client);
    socket.on('error', (err) => { client.writeError = err; });
    const onEnd = () => {
      if (!client.endedAt) client.endedAt = Date.now();
      for (const w of client.endWaiters.splice(0)) w();
      client.wake();
    };
    socket.on('end', () => { client.ended = true; onEnd(); });
    socket.on('close', () => { client.closed = true; open.delete(client); onEnd(); });

    const request = upgradeRequest(path, headers);
    const key = /Sec-WebSocket-Key: (.*)\r\n/.exec(request)![1]!;
    await new Promise<void>((resolve, reject) => {
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => reject(new Error('no handshake answer within 3 s')), 3000);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.off('data', onData);
        clearTimeout(timer);
        const parsed = parseHead(head.subarray(0, end).toString('latin1'));
        client.status = parsed.status;
        client.headers = parsed.headers;
        socket.on('data', (c: Buffer) => client.onData(c, options.recordBytes ?? false));
        const rest = head.subarray(end + 4);
        if (rest.length > 0) client.onData(rest, options.recordBytes ?? false);
        resolve();
      };
      socket.on('data', onData);
      socket.once('close', () => { clearTimeout(timer); reject(new Error('closed during the handshake')); });
      socket.write(request);
    });
    assert.equal(client.status, 101, 'handshake must succeed');
    // The accept value must match our key (checked independently of the code under test).
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    assert.equal(client.headers['sec-websocket-accept'], expected);
    return client;
  }

  /** Writes bytes; resolves once handed to the kernel (or the socket failed). */
  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  /** Writes one frame built from spec (masked by default). */
  send(spec: FrameSpec): Promise<void> {
    return this.write(frame(spec));
  }

  /** Writes bytes in pieces, each its own TCP write, waiting `gapMs` between them so they arrive apart. */
  async writeInPieces(bytes: Buffer, cuts: number[], gapMs = 5): Promise<void> {
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      await this.write(bytes.subarray(from, cut));
      from = cut;
      if (gapMs > 0) await delay(gapMs);
    }
  }

  /** The next frame from the server; rejects after `timeout` ms or when TCP ends first. */
  async nextFrame(timeout = 3000): Promise<Frame> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const f = this.frames.shift();
      if (f) return f;
      if (this.ended || this.closed) throw new Error('connection ended before the next frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeout} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Frames until TCP ends (bounded): everything the server sent. */
  async framesUntilEnd(timeout = 3000): Promise<Frame[]> {
    await this.waitEnd(timeout);
    return this.frames.splice(0);
  }

  /** Resolves when the server's FIN (or a close) was seen; fails after `timeout` ms. */
  waitEnd(timeout = 3000): Promise<void> {
    if (this.ended || this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`server did not close TCP within ${timeout} ms`)), timeout);
      this.endWaiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  /**
   * The conformance check for a failed or closed connection: the next frame
   * (skipping nothing) is a close frame with exactly `code` (undefined: an
   * empty close), and the server then closes TCP within `timeout` ms.
   */
  async expectClose(code: number | undefined, timeout = 3000): Promise<Frame> {
    const f = await this.nextFrame(timeout);
    assert.equal(f.opcode, OP.close, `expected a close frame, got opcode ${f.opcode} (${f.payload.length} bytes)`);
    assert.equal(f.masked, false, 'server frames are never masked');
    if (code === undefined) assert.equal(f.payload.length, 0, 'expected a close frame with no body');
    else {
      assert.ok(f.payload.length >= 2, 'close frame must carry a code');
      assert.equal(f.payload.readUInt16BE(0), code, `close code (reason: ${f.payload.subarray(2).toString()})`);
    }
    await this.waitEnd(timeout);
    return f;
  }

  /** A close frame answering the server's, then waits for TCP to end. */
  async closeAndWait(code = 1000): Promise<void> {
    await this.send({ opcode: OP.close, payload: closeBody(code) });
    await this.expectClose(code);
  }

  destroy(): void {
    this.socket.destroy();
    open.delete(this);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private onData(chunk: Buffer, record: boolean): void {
    if (record) this.received.push(chunk);
    this.chunks.push(chunk);
    this.total += chunk.length;
    let parsed = false;
    for (;;) {
      const f = this.parseOne();
      if (!f) break;
      this.frames.push(f);
      parsed = true;
    }
    if (parsed) this.wake();
  }

  /** Makes the first chunk at least n bytes long (n <= total). */
  private gather(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    const merged = Buffer.concat(this.chunks, this.total);
    this.chunks = [merged];
    return merged;
  }

  private parseOne(): Frame | null {
    if (this.total < 2) return null;
    let b = this.gather(2);
    const len7 = b[1]! & 0x7f;
    const masked = (b[1]! & 0x80) !== 0;
    const headLen = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (this.total < headLen) return null;
    b = this.gather(headLen);
    const len = len7 === 126 ? b.readUInt16BE(2) : len7 === 127 ? Number(b.readBigUInt64BE(2)) : len7;
    if (this.total < headLen + len) return null;
    b = this.gather(headLen + len);
    const payload = Buffer.from(b.subarray(headLen, headLen + len));
    if (masked) {
      const key = b.subarray(headLen - 4, headLen);
      for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
    }
    const f: Frame = { fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 7, opcode: b[0]! & 0x0f, masked, payload };
    const used = headLen + len;
    this.chunks[0] = b.subarray(used);
    this.total -= used;
    if (this.chunks[0].length === 0) this.chunks.shift();
    return f;
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface TestServer {
  port: number;
  /** The server itself (e.g. to call shutdown() while raw clients are connected). */
  pushwire: PushwireServer;
  /**
   * Resolves once the server has read every byte `client` wrote and handled it (one turn of
   * the event loop later), with the server's side of the connection: what the server did
   * about those bytes shows there (e.g. `bytesWritten` unchanged: nothing sent back).
   */
  handled(client: RawClient, timeout?: number): Promise<net.Socket>;
  close(): Promise<void>;
}

/** The real server (docs/PROTOCOL.md), in-process, on a free port, with its own data dir. */
export async function startServer(overrides: { maxMessage?: number } = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pushwire-ws-test-'));
  const server = createPushwireServer({ ...DEFAULTS, port: 0, host: '127.0.0.1', dataDir, ...overrides });
  const peers = new Map<number, net.Socket>(); // by the client's port
  server.http.on('connection', (socket: net.Socket) => {
    const key = socket.remotePort!;
    peers.set(key, socket);
    socket.once('close', () => { if (peers.get(key) === socket) peers.delete(key); });
  });
  const { port } = await server.listen();
  return {
    port,
    pushwire: server,
    async handled(client, timeout = 3000) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const peer = peers.get(client.socket.localPort!);
        if (peer && peer.bytesRead >= client.socket.bytesWritten) {
          await new Promise((resolve) => setImmediate(resolve));
          return peer;
        }
        if (Date.now() > deadline) throw new Error(`the server did not read all ${client.socket.bytesWritten} bytes within ${timeout} ms`);
        await delay(2);
      }
    },
    async close() {
      destroyAllRawClients();
      await server.shutdown();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
