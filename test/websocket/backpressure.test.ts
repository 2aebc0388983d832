import { test } from 'node:test';
import type { Socket } from 'node:net';
import assert from 'node:assert/strict';
import { WebSocketServer } from '../../src/websocket/server.js';
import type { WebSocket } from '../../src/websocket/websocket.js';
import { OP, RawClient, delay, frame } from './raw-client.js';

/**
 * A peer that sends without reading our answers (pongs, echoes) must not grow
 * the server's write queue without bound: the server stops reading until its
 * queue drains, and TCP pushes back on the peer.
 */
async function floodWithoutReading(payload: Buffer, opcode: number, totalBytes: number): Promise<{ peak: number; stillOpen: boolean }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  let server: WebSocket | null = null;
  let serverSocket: Socket | null = null;
  let peak = 0;
  // Sampled after every reply the server queues (a pong goes out before 'ping' is emitted):
  // the queue grows nowhere else, so this is the true peak, however slow the machine.
  const sample = () => { peak = Math.max(peak, server!.bufferedAmount); };
  wss.on('connection', (ws, req) => {
    server = ws;
    serverSocket = req.socket as Socket;
    ws.on('message', (data, isBinary) => { ws.send(data, { binary: isBinary }); sample(); });
    ws.on('ping', sample);
  });
  const port = (wss.address() as { port: number }).port;
  const client = await RawClient.connect(port, '/');
  client.socket.pause(); // never read again
  const one = frame({ opcode, payload });
  const batch = Buffer.concat(Array.from({ length: Math.max(1, Math.floor((1 << 20) / one.length)) }, () => one));
  for (let sent = 0; sent < totalBytes; sent += batch.length) {
    client.socket.write(batch);
    await delay(5);
  }
  // The flood is over when the server has read it all (it never throttled), or has stopped
  // reading: paused, and nothing more read for a while (only our reading could resume it).
  const deadline = Date.now() + 30_000;
  let lastRead = -1;
  let quietSince = Date.now();
  for (;;) {
    const socket = serverSocket!;
    if (socket.bytesRead >= client.socket.bytesWritten) break;
    if (socket.bytesRead !== lastRead || !socket.isPaused()) {
      lastRead = socket.bytesRead;
      quietSince = Date.now();
    } else if (Date.now() - quietSince > 300) break;
    assert.ok(Date.now() < deadline, 'the flood neither read nor throttled within 30 s');
    await delay(10);
  }
  const stillOpen = server!.readyState === 1;
  client.socket.destroy();
  await new Promise<void>((resolve) => wss.close(resolve));
  return { peak, stillOpen };
}

test('a ping flood from a peer that never reads its pongs keeps the server queue bounded', async () => {
  const { peak, stillOpen } = await floodWithoutReading(Buffer.alloc(125, 1), OP.ping, 24 << 20);
  assert.ok(stillOpen, 'the connection is throttled, not failed');
  assert.ok(peak < 512 * 1024, `server write queue peaked at ${peak} bytes`);
});

test('echo to a peer that never reads keeps the server queue bounded', async () => {
  const { peak } = await floodWithoutReading(Buffer.alloc(64 * 1024, 0x61), OP.binary, 48 << 20);
  assert.ok(peak < 1024 * 1024, `server write queue peaked at ${peak} bytes`);
});
