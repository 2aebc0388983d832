/**
 * The server side of the echo, memory and fan-out benches, run in a child
 * process of its own so that its CPU time and RSS can be measured apart from
 * the load generator: `--impl=ours` is the whole pushwire server
 * (createPushwireServer: /echo, /push/*), `--impl=ws` a ws WebSocketServer
 * that echoes every message and broadcasts with the usual ws loop. With
 * `--deflate=takeover|no-takeover` (deflate.ts) both are a bare echo
 * WebSocketServer (ours from src/websocket/server.ts, or ws's) with
 * permessage-deflate on, with or without server_no_context_takeover.
 * `--impl=sio-ours` is the whole pushwire server again, publishing with
 * Socket.IO's `io.emit`; `--impl=sio-ref` the `socket.io` 4 package, the same.
 * Both without connection state recovery (socket.io's default).
 *
 * Commands (over IPC, see lib.ts Worker): start, cpu, mem, stats, publish.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cpuMicros, serveRequests, createRequireHere } from './lib.js';

const impl = process.argv.find((a) => a.startsWith('--impl='))?.slice('--impl='.length) ?? 'ours';
const chat = process.argv.includes('--chat');
const deflate = process.argv.find((a) => a.startsWith('--deflate='))?.slice('--deflate='.length);

interface Publisher {
  port: number;
  /** Publishes one message on a channel (default `bench`) to every subscriber; returns how many WebSockets it went to. */
  publish(data: unknown, channel?: string): number;
  /** `count` publishes at once; by default a loop of publish(). */
  publishMany?(data: unknown, count: number, channel?: string): number;
  stats(): Record<string, number>;
}

/** The whole pushwire server on a free port, with a temporary data dir removed at exit. */
async function listenPushwire(options: Omit<import('../src/pushwire-server.js').PushwireServerOptions, 'log'>) {
  const { createPushwireServer } = await import('../src/pushwire-server.js');
  const { DEFAULTS } = await import('../src/config.js');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'pushwire-bench-'));
  process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  const server = createPushwireServer({ ...DEFAULTS, port: 0, host: '127.0.0.1', dataDir }, { log: () => {}, ...options });
  const { port } = await server.listen();
  return { server, port };
}

async function startOurs(): Promise<Publisher> {
  const { server, port } = await listenPushwire({
    // Bench clients do not answer pings fast when 10,000 share one process; keep heartbeats out of the figures.
    push: { heartbeatInterval: 25_000, maxHeldPolls: 100_000, longPollTimeout: 60_000 },
  });
  return {
    port,
    publish(data, channel = 'bench') {
      server.push.publish(channel, 'tick', data);
      return server.push.stats().websockets;
    },
    stats: () => ({ ...server.push.stats() }),
  };
}

async function startOursSocketIo(): Promise<Publisher> {
  const { server, port } = await listenPushwire({ socketio: { connectionStateRecovery: false } });
  return {
    port,
    publish(data) {
      server.io.emit('tick', data);
      return server.io.sockets.sockets.size;
    },
    stats: () => ({ websockets: server.io.sockets.sockets.size }),
  };
}

async function startSocketIoRef(): Promise<Publisher> {
  const http = await import('node:http');
  const { Server } = createRequireHere()('socket.io');
  const httpServer = http.createServer();
  const io = new Server(httpServer, { serveClient: false });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  return {
    port: (httpServer.address() as import('node:net').AddressInfo).port,
    publish(data) {
      io.emit('tick', data);
      return io.sockets.sockets.size;
    },
    stats: () => ({ websockets: io.sockets.sockets.size }),
  };
}

async function startWs(): Promise<Publisher> {
  const { WebSocketServer, WebSocket } = createRequireHere()('ws');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.on('listening', resolve));
  let id = 0;
  // The broadcast of ws's README: one send() per client, each framing the message anew.
  const broadcast = (event: string, data: unknown, except: unknown = null) => {
    const text = JSON.stringify({ id: ++id, event, data });
    let n = 0;
    for (const client of wss.clients) {
      if (client !== except && client.readyState === WebSocket.OPEN) {
        client.send(text);
        n++;
      }
    }
    return n;
  };
  wss.on('connection', (ws: any) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!chat) return ws.send(data, { binary: isBinary });
      // The chat of ws's README: every message to everyone else, as pushwire's chat publishes `chat message`.
      const event = JSON.parse(data.toString());
      broadcast(event.event, event.data, ws);
    });
  });
  return {
    port: wss.address().port,
    publish: (data) => broadcast('tick', data),
    stats: () => ({ websockets: wss.clients.size }),
  };
}

/**
 * The machine's floor for fan-out: a bare net.Server that answers the
 * handshake and, per publish, frames once and calls socket.write() on every
 * socket. No WebSocket layer at all, so what it costs is Node's stream write
 * plus the kernel's send, which no WebSocket server can go below.
 */
async function startFloor(): Promise<Publisher> {
  const net = await import('node:net');
  const { createHash } = await import('node:crypto');
  const { encodeTextFrame } = await import('../src/protocol/frame-encoder.js');
  const sockets = new Set<import('node:net').Socket>();
  const server = net.createServer((socket) => {
    let head = '';
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      sockets.add(socket);
      socket.resume();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let id = 0;
  return {
    port: (server.address() as import('node:net').AddressInfo).port,
    publish(data) {
      const frame = encodeTextFrame(JSON.stringify({ id: ++id, event: 'tick', data }));
      for (const socket of sockets) socket.write(frame);
      return sockets.size;
    },
    publishMany(data, count) {
      // Frames once, then per socket one writev of them all (cork, the writes, uncork).
      const frames = Array.from({ length: count }, () => encodeTextFrame(JSON.stringify({ id: ++id, event: 'tick', data })));
      for (const socket of sockets) {
        socket.cork();
        for (const frame of frames) socket.write(frame);
        socket.uncork();
      }
      return sockets.size;
    },
    stats: () => ({ websockets: sockets.size }),
  };
}

/** A bare echo server with permessage-deflate: the same options on both sides (threshold 1024, level 6, window 15). */
async function startDeflateEcho(mode: string): Promise<Publisher> {
  const perMessageDeflate = mode === 'no-takeover' ? { serverNoContextTakeover: true } : true;
  const { WebSocketServer } = impl === 'ws' ? createRequireHere()('ws') : await import('../src/websocket/server.js');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
  await new Promise<void>((resolve) => wss.on('listening', resolve));
  wss.on('connection', (ws: any) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
  return {
    port: wss.address().port,
    publish: () => { throw new Error('the deflate echo server does not publish'); },
    stats: () => ({ websockets: wss.clients.size }),
  };
}

let server: Publisher | null = null;

serveRequests({
  async start() {
    server = deflate ? await startDeflateEcho(deflate)
      : impl === 'ws' ? await startWs()
      : impl === 'floor' ? await startFloor()
      : impl === 'sio-ours' ? await startOursSocketIo()
      : impl === 'sio-ref' ? await startSocketIoRef()
      : await startOurs();
    return { port: server.port, pid: process.pid };
  },
  cpu: () => cpuMicros(),
  mem() {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) { gc(); gc(); }
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
  },
  stats: () => server!.stats(),
  /** Publishes with the monotonic clock (shared by all processes of the machine) in the data, for latency. */
  publish(arg: { seq: number; channel?: string; count?: number }) {
    const before = cpuMicros();
    const t = Number(process.hrtime.bigint() / 1000n);
    const data = { seq: arg.seq, t };
    const count = arg.count ?? 1;
    let n = 0;
    if (count > 1 && server!.publishMany) n = server!.publishMany(data, count, arg.channel);
    else for (let i = 0; i < count; i++) n = server!.publish(data, arg.channel);
    return { websockets: n, cpu: cpuMicros() - before };
  },
});
