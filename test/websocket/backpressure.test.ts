import { test } from 'node:test';
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
  wss.on('connection', (ws) => {
    server = ws;
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const port = (wss.address() as { port: number }).port;
  const client = await RawClient.connect(port, '/');
  client.socket.pause(); // never read again
  const one = frame({ opcode, payload });
  const batch = Buffer.concat(Array.from({ length: Math.max(1, Math.floor((1 << 20) / one.length)) }, () => one));
  let peak = 0;
  for (let sent = 0; sent < totalBytes; sent += batch.length) {
    client.socket.write(batch);
    await delay(5);
    peak = Math.max(peak, server!.bufferedAmount);
  }
  // Let whatever the kernel still holds reach the server.
  for (let i = 0; i < 40; i++) {
    await delay(25);
    peak = Math.max(peak, server!.bufferedAmount);
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
