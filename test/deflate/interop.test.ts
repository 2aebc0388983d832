/**
 * permessage-deflate against `ws`: ws clients with every context-takeover
 * and window-bits combination echo through our server; many messages of
 * 16 B to 1 MiB under each parameter set (the ground of Autobahn 12.x and
 * 13.x); our client against a ws server; /echo of the real server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WS, { WebSocketServer as WSServer } from 'ws';
import { connect } from '../../src/websocket/client.js';
import { deflateOf, type WebSocket } from '../../src/websocket/websocket.js';
import type { DeflateOptions } from '../../src/protocol/deflate-params.js';
import { createPushwireServer, type PushwireServer } from '../../src/pushwire-server.js';
import { DEFAULTS } from '../../src/config.js';
import { acceptKey } from '../../src/protocol/handshake.js';
import net from 'node:net';
import { binaryOfSize, prng, startEchoServer, textOfSize, type EchoServer } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface WsDeflate {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number;
}

/** A ws client with perMessageDeflate (threshold 0: it compresses everything), open. */
async function wsClient(port: number, deflate: WsDeflate, path = '/'): Promise<WS> {
  const c = new WS(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: { ...deflate, threshold: 0 }, maxPayload: 64 * MiB });
  await new Promise<void>((resolve, reject) => {
    c.once('open', () => resolve());
    c.once('error', reject);
  });
  return c;
}

/** Sends every message at once (pipelined), then checks each echo, in order. */
async function echoAll(c: WS, messages: Array<string | Buffer>, timeout = 15000): Promise<void> {
  const received: Array<{ data: Buffer; isBinary: boolean }> = [];
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${messages.length} echoes in ${timeout} ms`)), timeout);
    c.on('message', (data: Buffer, isBinary: boolean) => {
      received.push({ data, isBinary });
      if (received.length === messages.length) { clearTimeout(timer); resolve(); }
    });
    c.once('close', (code: number) => { clearTimeout(timer); reject(new Error(`closed with ${code} after ${received.length} echoes`)); });
  });
  for (const m of messages) c.send(m);
  await done;
  messages.forEach((m, i) => {
    const r = received[i]!;
    assert.equal(r.isBinary, typeof m !== 'string', `message ${i}: opcode`);
    if (typeof m === 'string') assert.equal(r.data.toString(), m, `message ${i} (${m.length} chars) differs`);
    else assert.ok(r.data.equals(m), `message ${i} (${m.length} bytes) differs`);
  });
}

function closeClient(c: WS): Promise<void> {
  return new Promise((resolve) => {
    if (c.readyState === WS.CLOSED) return resolve();
    c.once('close', () => resolve());
    c.close(1000);
  });
}

/** The bytes that crossed the server's socket for one connection. */
function socketBytes(req: IncomingMessage): { read: number; written: number } {
  return { read: req.socket.bytesRead, written: req.socket.bytesWritten };
}

describe('ws clients with every parameter combination', () => {
  let server: EchoServer;
  const requests: IncomingMessage[] = [];
  before(async () => {
    server = await startEchoServer({ perMessageDeflate: { threshold: 0 } });
    server.wss.on('connection', (_ws: WebSocket, req: IncomingMessage) => requests.push(req));
  });
  after(() => server.close());

  const combos: WsDeflate[] = [];
  for (const serverNoContextTakeover of [false, true]) {
    for (const clientNoContextTakeover of [false, true]) {
      for (const serverMaxWindowBits of [undefined, 8, 9, 10, 11, 12, 13, 14, 15]) {
        for (const clientMaxWindowBits of [undefined, 8, 11, 15]) {
          combos.push({ serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits });
        }
      }
    }
  }

  test(`${combos.length} combinations: negotiated as asked, compressed both ways, echoed intact`, async () => {
    const random = prng(7);
    // The same text twice shows context takeover; sizes cross the 256-byte window of 8 bits.
    const repeated = textOfSize(3000, random);
    const messages: Array<string | Buffer> = [textOfSize(16, random), repeated, repeated, binaryOfSize(8 * KiB, random), textOfSize(70 * KiB, random), ''];
    const total = messages.reduce<number>((n, m) => n + Buffer.byteLength(m), 0);
    const batch = 12;
    for (let i = 0; i < combos.length; i += batch) {
      await Promise.all(combos.slice(i, i + batch).map(async (combo) => {
        const c = await wsClient(server.port, combo);
        const at = server.connections.length - 1;
        const label = JSON.stringify(combo);
        try {
          await echoAll(c, messages);
          // What our server agreed on is what was asked.
          const ours = server.connections.find((ws) => ws.readyState === 1 && deflateOf(ws) !== null &&
            requests[server.connections.indexOf(ws)]?.socket.remotePort === (c as unknown as { _socket: { localPort: number } })._socket.localPort);
          assert.ok(ours, `${label}: server connection found (${at})`);
          const p = deflateOf(ours)!.params;
          assert.equal(p.serverNoContextTakeover, combo.serverNoContextTakeover, label);
          assert.equal(p.clientNoContextTakeover, combo.clientNoContextTakeover, label);
          assert.equal(p.serverMaxWindowBits, combo.serverMaxWindowBits ?? 15, label);
          assert.equal(p.clientMaxWindowBits, combo.clientMaxWindowBits ?? 15, label);
          const bytes = socketBytes(requests[server.connections.indexOf(ours)]!);
          assert.ok(bytes.read < total * 0.8, `${label}: client compressed (${bytes.read} of ${total} bytes)`);
          assert.ok(bytes.written < total * 0.8, `${label}: server compressed (${bytes.written} of ${total} bytes)`);
        } finally {
          await closeClient(c);
        }
      }));
    }
  });
});

describe('many messages of 16 B to 1 MiB under each parameter set (Autobahn 12.x / 13.x ground)', () => {
  let server: EchoServer;
  before(async () => { server = await startEchoServer({ perMessageDeflate: { threshold: 0 } }); });
  after(() => server.close());

  const sets: Array<[string, WsDeflate]> = [
    ['13.1 default offer (client_max_window_bits)', {}],
    ['13.2 client_no_context_takeover', { clientNoContextTakeover: true }],
    ['13.3 client_max_window_bits=8', { clientMaxWindowBits: 8 }],
    ['13.4 client_max_window_bits=15', { clientMaxWindowBits: 15 }],
    ['13.5 client_no_context_takeover, client_max_window_bits=8', { clientNoContextTakeover: true, clientMaxWindowBits: 8 }],
    ['13.6 client_no_context_takeover, client_max_window_bits=15', { clientNoContextTakeover: true, clientMaxWindowBits: 15 }],
    ['server_no_context_takeover, server_max_window_bits=8', { serverNoContextTakeover: true, serverMaxWindowBits: 8 }],
    ['all four parameters, windows 9/10', { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 10 }],
  ];
  const sizes = [16, 64, 256, 1 * KiB, 4 * KiB, 8 * KiB, 16 * KiB, 32 * KiB, 64 * KiB, 128 * KiB];
  const PER_SIZE = 25;

  for (const [name, combo] of sets) {
    test(name, async () => {
      const random = prng(name.length);
      const messages: Array<string | Buffer> = [];
      for (const size of sizes) {
        for (let i = 0; i < PER_SIZE; i++) messages.push(i % 4 === 3 ? binaryOfSize(size, random) : textOfSize(size, random));
      }
      messages.push(textOfSize(256 * KiB, random), binaryOfSize(MiB, random), textOfSize(MiB, random));
      const c = await wsClient(server.port, combo);
      try {
        await echoAll(c, messages, 20000);
      } finally {
        await closeClient(c);
      }
    });
  }
});

describe('our client with permessage-deflate', () => {
  let wss: WSServer;
  let port: number;
  const seen: string[] = [];
  before(async () => {
    wss = new WSServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0, serverMaxWindowBits: 10 } });
    wss.on('connection', (ws, req) => {
      seen.push(String(req.headers['sec-websocket-extensions']));
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    port = (wss.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => resolve());
  }));

  async function roundTrip(options: DeflateOptions, url = `ws://127.0.0.1:${port}`): Promise<WebSocket> {
    const c = connect(url, { perMessageDeflate: { threshold: 0, ...options } });
    await new Promise<void>((resolve, reject) => {
      c.once('open', () => resolve());
      c.once('error', reject);
    });
    const random = prng(3);
    const messages: Array<string | Buffer> = [textOfSize(20, random), textOfSize(5000, random), binaryOfSize(100 * KiB, random), textOfSize(MiB, random)];
    const got: Array<{ data: Buffer; isBinary: boolean }> = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('echoes timed out')), 10000);
      c.on('message', (data: Buffer, isBinary: boolean) => {
        got.push({ data, isBinary });
        if (got.length === messages.length) { clearTimeout(timer); resolve(); }
      });
      for (const m of messages) c.send(m);
    });
    messages.forEach((m, i) => {
      assert.equal(got[i]!.isBinary, typeof m !== 'string');
      assert.ok(got[i]!.data.equals(typeof m === 'string' ? Buffer.from(m) : m), `message ${i} differs`);
    });
    return c;
  }

  test('default offer against a ws server that limits its window: accepted, echoes intact', async () => {
    const c = await roundTrip({});
    assert.equal(seen.at(-1), 'permessage-deflate; client_max_window_bits');
    assert.equal(c.extensions, 'permessage-deflate; server_max_window_bits=10');
    assert.equal(deflateOf(c)!.params.serverMaxWindowBits, 10);
    c.close(1000);
  });
  test('every parameter offered; the server answers a smaller window than asked', async () => {
    // (ws declines an offer asking for less than its own serverMaxWindowBits, so ask for more.)
    const c = await roundTrip({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 8 });
    assert.equal(seen.at(-1), 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=8');
    assert.deepEqual(deflateOf(c)!.params, { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 8 });
    c.close(1000);
  });
  for (const [answerText, offered] of [
    ['permessage-deflate; foo', true],
    ['permessage-deflate; client_max_window_bits', true],
    ['permessage-deflate; server_max_window_bits=7', true],
    ['permessage-deflate, permessage-deflate', true],
    ['x-other', true],
    ['permessage-deflate', false],
  ] as const) {
    test(`a server answering ${JSON.stringify(answerText)}${offered ? '' : ' unasked'} fails the connection`, async () => {
      const fake = net.createServer((sock) => {
        sock.once('data', (d) => {
          const key = /sec-websocket-key: *(\S+)/i.exec(d.toString())![1]!;
          sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
            `Sec-WebSocket-Extensions: ${answerText}\r\n\r\n`);
        });
        sock.on('error', () => {});
      });
      await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', () => resolve()));
      try {
        const c = connect(`ws://127.0.0.1:${(fake.address() as { port: number }).port}`, { perMessageDeflate: offered });
        const errors: string[] = [];
        c.on('error', (e: Error) => errors.push(e.message));
        let opened = false;
        c.on('open', () => { opened = true; });
        const code = await new Promise<number>((resolve) => c.once('close', (closeCode: number) => resolve(closeCode)));
        assert.equal(opened, false);
        assert.equal(code, 1006);
        assert.match(errors[0] ?? '', /extension|answer/i);
      } finally {
        fake.close();
      }
    });
  }
  test('our client against our server, context takeover both ways', async () => {
    const s = await startEchoServer({ perMessageDeflate: { threshold: 0 } });
    try {
      const c = await roundTrip({}, `ws://127.0.0.1:${s.port}`);
      assert.equal(c.extensions, 'permessage-deflate');
      c.close(1000);
    } finally {
      await s.close();
    }
  });
});

describe('/echo of the real server negotiates permessage-deflate (docs/PROTOCOL.md §2.1)', () => {
  let app: PushwireServer;
  let port: number;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pushwire-deflate-'));
    app = createPushwireServer({ ...DEFAULTS, port: 0, dataDir, maxMessage: 2 * MiB });
    ({ port } = await app.listen());
  });
  after(async () => {
    await app.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('Chromium-style offer: accepted, messages echoed intact (compressed above 1 KiB)', async () => {
    const c = new WS(`ws://127.0.0.1:${port}/echo`, { perMessageDeflate: { threshold: 0 } });
    await new Promise<void>((resolve, reject) => { c.once('open', () => resolve()); c.once('error', reject); });
    try {
      assert.equal(c.extensions, 'permessage-deflate');
      const random = prng(11);
      await echoAll(c, [textOfSize(16, random), textOfSize(2000, random), binaryOfSize(300 * KiB, random), textOfSize(MiB, random)]);
    } finally {
      await closeClient(c);
    }
  });
  test('--max-message applies to the inflated size: 1009', async () => {
    const c = new WS(`ws://127.0.0.1:${port}/echo`, { perMessageDeflate: { threshold: 0 } });
    await new Promise<void>((resolve, reject) => { c.once('open', () => resolve()); c.once('error', reject); });
    const code = await new Promise<number>((resolve) => {
      c.once('close', (closeCode: number) => resolve(closeCode));
      c.send(Buffer.alloc(3 * MiB)); // a few KiB on the wire
    });
    assert.equal(code, 1009);
  });
});
