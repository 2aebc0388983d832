/**
 * Pipelined requests (docs/PROTOCOL.md §6.1, "Pipelining"): streams and held
 * polls queued behind others on one connection are released when it closes,
 * and a connection holds at most one stream or held poll.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Socket } from 'node:net';
import { startServer, type TestServer } from '../push/helpers.js';

let s: TestServer;
/** The server's side of every connection, to wait for its close event. */
const serverSockets: Socket[] = [];
before(async () => {
  s = await startServer();
  s.server.http.on('connection', (socket: Socket) => serverSockets.push(socket));
});
after(() => s.stop());

function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
}

/** Resolves once every socket the server accepted so far is closed, then lets queued close handlers run. */
async function serverSideClosed(ms: number): Promise<void> {
  const open = serverSockets.filter((socket) => !socket.closed);
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${open.filter((x) => !x.closed).length} connections still open after ${ms} ms`)), ms); });
  try {
    await Promise.race([Promise.all(open.map((socket) => new Promise((resolve) => socket.once('close', resolve)))), hung]);
  } finally {
    clearTimeout(timer);
  }
  // Node destroys queued requests on the socket's close and emits their 'close' on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
}

/** Opens a connection, writes `bytes`, resolves with the socket once `until` is seen in what came back. */
function pipeline(bytes: string, until: string): Promise<{ socket: net.Socket; received: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(s.port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      const had = text.includes(until);
      text += chunk.toString('latin1');
      if (!had && text.includes(until)) resolve({ socket, received: () => text });
    });
  });
}

test('50 connections each pipelining 5 SSE requests, then closing: the open streams are back to baseline', async () => {
  const baseline = s.server.push.stats();
  const clients = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    pipeline(get(`/push/sse?channel=pipe-${i}`).repeat(5), ': pushwire')));
  assert.ok(s.server.push.stats().streams > baseline.streams);
  const closedAt = Date.now();
  for (const { socket } of clients) socket.destroy();
  await serverSideClosed(2000);
  assert.ok(Date.now() - closedAt < 2000);
  const now = s.server.push.stats();
  assert.equal(now.streams, baseline.streams);
  assert.equal(now.subscriptions, baseline.subscriptions);
});

test('a connection pipelining 1,000 long polls holds at most one and lets it go when it closes', async () => {
  const baseline = s.server.push.stats();
  const polls = Array.from({ length: 1000 }, (_, i) => get(`/push/longpoll?channel=lp-${i}&timeout=30000`)).join('');
  const socket = net.connect(s.port, '127.0.0.1');
  socket.on('error', () => {});
  const ended = new Promise((resolve) => socket.once('close', resolve));
  socket.write(polls);
  // The server drops the connection past the bound of requests awaiting their answers.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([ended, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('the connection was not closed by the server')), 5000); })]);
  clearTimeout(timer);
  await serverSideClosed(2000);
  const now = s.server.push.stats();
  assert.equal(now.heldPolls, baseline.heldPolls);
  assert.equal(now.subscriptions, baseline.subscriptions);
  assert.ok(now.channels - baseline.channels <= 1, `${now.channels - baseline.channels} channels created by one connection`);
});

test('a request pipelined behind a held long poll is refused 429, answered after the poll', async () => {
  const baseline = s.server.push.stats();
  const socket = net.connect(s.port, '127.0.0.1');
  socket.on('error', () => {});
  let text = '';
  socket.on('data', (c: Buffer) => { text += c.toString('latin1'); });
  const ended = new Promise((resolve) => socket.once('close', resolve));
  socket.write(get('/push/longpoll?channel=lp-held&timeout=30000') + get('/push/sse?channel=behind'));
  // Both heads are parsed in one turn; the poll is held once the in-memory log has answered.
  const deadline = Date.now() + 2000;
  while (s.server.push.stats().heldPolls === baseline.heldPolls) {
    if (Date.now() > deadline) throw new Error('the poll was not held');
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(s.server.push.stats().streams, baseline.streams);
  await s.server.push.publish('lp-held', 'x', 1);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([ended, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`not closed; got ${text}`)), 5000); })]);
  clearTimeout(timer);
  assert.match(text, /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 429 [\s\S]*pipelined behind a stream or held poll/);
  await serverSideClosed(2000);
  assert.equal(s.server.push.stats().heldPolls, baseline.heldPolls);
  assert.equal(s.server.push.stats().streams, baseline.streams);
});

test('an upgrade pipelined behind a stream and requests queued after it: the connection is closed and all they held released', async () => {
  const baseline = s.server.push.stats();
  const upgrade = 'GET /push/ws?channel=pipe-u HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  // A stream, a held poll and a stream queued behind it, then the upgrade: Node hands the socket
  // over for the upgrade and would forget the queued exchanges, which then never close.
  const socket = net.connect(s.port, '127.0.0.1', () => socket.write(
    get('/push/sse?channel=pipe-s') + get('/push/longpoll?channel=pipe-l&timeout=30000') + get('/push/iframe?channel=pipe-i&callback=cb') + upgrade));
  socket.on('error', () => {});
  let text = '';
  socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
  await new Promise((resolve) => socket.once('close', resolve));
  assert.doesNotMatch(text, /101 Switching Protocols/);
  await serverSideClosed(2000);
  const now = s.server.push.stats();
  assert.equal(now.streams, baseline.streams);
  assert.equal(now.heldPolls, baseline.heldPolls);
  assert.equal(now.subscriptions, baseline.subscriptions);
});
