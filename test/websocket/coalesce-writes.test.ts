/**
 * ws.coalesceWrites(batch) on a plain WebSocketServer, over real sockets:
 * broadcast frames of one turn arrive in one read, and anything the
 * connection sends meanwhile (a send(), a frame with a callback, a close)
 * comes after them, in the order it was asked for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../src/websocket/server.js';
import { WebSocket } from '../../src/websocket/websocket.js';
import { PreparedMessage } from '../../src/websocket/prepared-message.js';
import { WriteBatch } from '../../src/http/write-batch.js';
import { OP, RawClient } from './raw-client.js';

async function serverWithClients(count: number) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  const servers: WebSocket[] = [];
  const clients: RawClient[] = [];
  for (let i = 0; i < count; i++) {
    const accepted = once(wss, 'connection');
    clients.push(await RawClient.connect(port, '/'));
    servers.push((await accepted)[0] as WebSocket);
  }
  const close = () => new Promise<void>((resolve) => wss.close(() => resolve()));
  return { servers, clients, close };
}

test('coalesceWrites: the broadcasts of one turn leave together; send(), a frame with a callback and close() keep their place', async () => {
  const { servers, clients, close } = await serverWithClients(3);
  try {
    const batch = new WriteBatch();
    for (const ws of servers) ws.coalesceWrites(batch);
    const reads = clients.map((c) => countReads(c));
    const a = new PreparedMessage('a');
    const b = new PreparedMessage('b');
    const c = new PreparedMessage('c');
    for (const ws of servers) {
      ws.sendPrepared(a);
      ws.sendPrepared(b);
    }
    // Only the first connection sends something of its own between two broadcasts.
    const written = new Promise<void>((resolve, reject) => servers[0]!.sendFrame(new PreparedMessage('own, with callback').frame, (err) => (err ? reject(err) : resolve())));
    servers[0]!.send('own');
    for (const ws of servers) ws.sendPrepared(c);
    servers[2]!.close(1000, 'bye');
    await written;
    const expect = [['a', 'b', 'own, with callback', 'own', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']];
    for (let i = 0; i < clients.length; i++) {
      const got: string[] = [];
      for (let k = 0; k < expect[i]!.length; k++) {
        const frame = await clients[i]!.nextFrame();
        assert.equal(frame.opcode, OP.text);
        got.push(frame.payload.toString());
      }
      assert.deepEqual(got, expect[i]);
    }
    const closing = await clients[2]!.nextFrame();
    assert.equal(closing.opcode, OP.close);
    assert.equal(closing.payload.readUInt16BE(0), 1000);
    // The untouched second client got its three frames in one read.
    assert.equal(reads[1]!(), 1);
    assert.equal(servers[1]!.bufferedAmount, 0);
  } finally {
    for (const c of clients) c.destroy();
    await close();
  }
});

test('coalesceWrites: bufferedAmount counts what waits for the end of the turn', async () => {
  const { servers, clients, close } = await serverWithClients(1);
  try {
    const ws = servers[0]!;
    ws.coalesceWrites(new WriteBatch());
    const message = new PreparedMessage('x'.repeat(1000));
    ws.sendPrepared(message);
    ws.sendPrepared(message);
    assert.equal(ws.bufferedAmount, 2 * message.frame.length);
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(ws.bufferedAmount < 2 * message.frame.length);
    assert.equal((await clients[0]!.nextFrame()).payload.length, 1000);
    assert.equal((await clients[0]!.nextFrame()).payload.length, 1000);
  } finally {
    for (const c of clients) c.destroy();
    await close();
  }
});

/** How many reads a client's socket has had since now. */
function countReads(client: RawClient): () => number {
  let n = 0;
  (client.socket as net.Socket).on('data', () => n++);
  return () => n;
}
