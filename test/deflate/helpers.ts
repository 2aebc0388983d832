/**
 * Helpers for the permessage-deflate tests: an echo server of our own on
 * port 0, hand-made frames, and a raw TCP client that does the handshake with
 * a chosen Sec-WebSocket-Extensions and reads frames back.
 */
import net from 'node:net';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/websocket/server.js';
import type { WebSocket } from '../../src/websocket/websocket.js';

export const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface EchoServer {
  port: number;
  wss: WebSocketServer;
  /** Server-side connections, in order of arrival. */
  connections: WebSocket[];
  close(): Promise<void>;
}

/** Our WebSocketServer on 127.0.0.1:0, echoing every message with its opcode. */
export async function startEchoServer(options: WebSocketServerOptions = {}): Promise<EchoServer> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', closeTimeout: 1000, ...options });
  const connections: WebSocket[] = [];
  wss.on('connection', (ws: WebSocket) => {
    connections.push(ws);
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const address = wss.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port, wss, connections,
    close: () => new Promise<void>((resolve) => {
      for (const ws of wss.clients) ws.terminate();
      wss.close(() => resolve());
    }),
  };
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv1?: boolean;
  /** Client frames are masked unless this is false. */
  mask?: boolean;
}

/** One frame, as a client sends it (masked with a random key). */
export function frame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : spec.payload ?? Buffer.alloc(0);
  const mask = spec.mask !== false;
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (spec.fin === false ? 0 : 0x80) | (spec.rsv1 ? 0x40 : 0) | spec.opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  key.copy(head, 2 + ext);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([head, body]);
}

/** A message deflated as RFC 7692 §7.2.1 says: sync flush, `00 00 ff ff` removed. */
export function deflateMessage(data: Buffer | string, windowBits = 15): Buffer {
  const out = zlib.deflateRawSync(typeof data === 'string' ? Buffer.from(data) : data, {
    windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  assert.deepEqual([...out.subarray(out.length - 4)], [0, 0, 0xff, 0xff]);
  return out.subarray(0, out.length - 4);
}

/** A server frame, decoded. */
export interface Frame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

/** The inflated payload of a compressed server message (fresh inflater: no context takeover). */
export function inflateMessage(payload: Buffer, windowBits = 15): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** Inflates a server's compressed messages in order with one stream, for a server that keeps its context. */
export class MessageInflater {
  private readonly inflate = zlib.createInflateRaw();
  private chunks: Buffer[] = [];
  constructor() {
    this.inflate.on('data', (b: Buffer) => this.chunks.push(b));
  }
  message(payload: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.inflate.once('error', reject);
      this.inflate.write(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]));
      this.inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.inflate.off('error', reject);
        const out = Buffer.concat(this.chunks);
        this.chunks = [];
        resolve(out);
      });
    });
  }
  close(): void {
    this.inflate.close();
  }
}

/** A client on a bare TCP socket: handshake with chosen headers, then frames by hand. */
export class RawClient {
  status = 0;
  headers: Record<string, string> = {};
  ended = false;
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  /** Every client made, so a failed test cannot leave sockets open (destroyAll in after()). */
  static readonly all = new Set<RawClient>();
  private constructor(readonly socket: net.Socket) {
    RawClient.all.add(this);
    socket.on('close', () => RawClient.all.delete(this));
  }

  static destroyAll(): void {
    for (const c of RawClient.all) c.destroy();
  }

  static connect(port: number, extensions?: string, path = '/'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const client = new RawClient(socket);
      let handshaken = false;
      const timer = setTimeout(() => { socket.destroy(); reject(new Error('handshake timed out')); }, 3000);
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        client.buf = Buffer.concat([client.buf, chunk]);
        if (!handshaken) {
          const end = client.buf.indexOf('\r\n\r\n');
          if (end === -1) return;
          handshaken = true;
          clearTimeout(timer);
          const lines = client.buf.subarray(0, end).toString('latin1').split('\r\n');
          client.status = Number(lines[0]!.split(' ')[1]);
          for (const line of lines.slice(1)) {
            const i = line.indexOf(':');
            client.headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
          }
          client.buf = client.buf.subarray(end + 4);
          resolve(client);
        }
        client.wake();
      });
      socket.on('close', () => {
        client.ended = true;
        client.wake();
        clearTimeout(timer);
        if (!handshaken) reject(new Error('closed during the handshake'));
      });
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) + '\r\n');
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** The next complete frame from the server. */
  async nextFrame(timeout = 3000): Promise<Frame> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const f = this.take();
      if (f) return f;
      if (this.ended) throw new Error('connection closed before a frame arrived');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => { clearTimeout(t); resolve(); };
      });
    }
  }

  private take(): Frame | null {
    const b = this.buf;
    if (b.length < 2) return null;
    let len = b[1]! & 0x7f;
    let off = 2;
    if (len === 126) { if (b.length < 4) return null; len = b.readUInt16BE(2); off = 4; }
    else if (len === 127) { if (b.length < 10) return null; len = Number(b.readBigUInt64BE(2)); off = 10; }
    if (b[1]! & 0x80) off += 4; // a server never masks; tolerate to report it
    if (b.length < off + len) return null;
    const f = { fin: (b[0]! & 0x80) !== 0, rsv1: (b[0]! & 0x40) !== 0, opcode: b[0]! & 0x0f, payload: Buffer.from(b.subarray(off, off + len)) };
    this.buf = b.subarray(off + len);
    return f;
  }

  /** Reads frames until a close; asserts its code and that the server then closes TCP. */
  async expectClose(code: number, timeout = 3000): Promise<void> {
    for (;;) {
      const f = await this.nextFrame(timeout);
      if (f.opcode !== OP.close) continue;
      assert.equal(f.payload.readUInt16BE(0), code, `close code (reason: ${f.payload.subarray(2).toString()})`);
      break;
    }
    const deadline = Date.now() + timeout;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(this.ended, 'the server closed the TCP connection');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The seeded PRNG of the protocol tests, so the messages are the same on every run. */
export { prng } from '../protocol/helpers.js';

const WORDS = ('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et ' +
  'dolore magna aliqua registration channel push server event stream message {"id": 42, "data": null} ' +
  'é ü ß € 日本語 🚀').split(' ');
const WORD_LIST = WORDS.map((w) => ({ text: w + ' ', bytes: Buffer.byteLength(w) + 1 }));

/** Compressible text (words from a small vocabulary, with multi-byte characters) of about `size` bytes. */
export function textOfSize(size: number, random: () => number): string {
  const parts: string[] = [];
  let bytes = 0;
  while (bytes < size) {
    const w = WORD_LIST[Math.floor(random() * WORD_LIST.length)]!;
    parts.push(w.text);
    bytes += w.bytes;
  }
  // Cut to exactly `size` bytes on a character boundary (pad with ASCII).
  const buf = Buffer.from(parts.join(''));
  let end = size;
  while (end > 0 && end < buf.length && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString() + 'x'.repeat(size - end);
}

/** Binary data of `size` bytes, half of it random and half repetitive. */
export function binaryOfSize(size: number, random: () => number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = i % 64 < 32 ? Math.floor(random() * 256) : i & 0xff;
  return b;
}
