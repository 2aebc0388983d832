/**
 * Client events are bounded at 64 KiB (docs/PROTOCOL.md §3.8, §6.1): a 16 MiB
 * nested event on /push/ws or Socket.IO is refused from its frame header,
 * before it is read or parsed, so other clients' round trips stay short.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { WellBehavedClient, describeLatency, startServer, type Server } from './helpers.js';

const require = createRequire(import.meta.url);
const WebSocketClient = require('ws') as typeof import('ws').WebSocket;

/** Nesting, as an event: the most expensive thing to parse for its size; just under `bytes`. */
function nestedEvent(bytes: number, wrap: (json: string) => string): string {
  const depth = Math.floor((bytes - wrap('').length) / 2) - 64;
  return wrap(`${'['.repeat(depth)}${']'.repeat(depth)}`);
}
/** Under --max-message (16 MiB): what a /push/ws client could send before the events were bounded. */
const pushEvent = nestedEvent(16 * 1024 * 1024, (data) => `{"event":"x","data":${data}}`);
/** Under Socket.IO's former bound (1 MB), as an EVENT packet on an Engine.IO message: "4" + "2" + the array. */
const socketIoEvent = nestedEvent(1e6, (data) => `42["chat message",${data}]`);

let s: Server;
before(async () => { s = await startServer(); });
after(() => s.stop());

/** Opens `url`, sends `times` big events one after the other (a new connection after each close); the close codes. */
async function sendBig(url: string, times: number, event: string): Promise<number[]> {
  const codes: number[] = [];
  for (let i = 0; i < times; i++) {
    codes.push(await new Promise<number>((resolve, reject) => {
      const ws = new WebSocketClient(url, { perMessageDeflate: false });
      ws.once('error', () => {}); // the server may close while we still send
      ws.once('open', () => ws.send(event));
      ws.once('close', (code: number) => resolve(code));
      setTimeout(() => { ws.terminate(); reject(new Error('no close within 20 s')); }, 20_000).unref();
    }));
  }
  return codes;
}

/**
 * Runs the senders beside a well-behaved echo client (a worker thread). Parsing
 * one such event took the loop 6 s: every echo in its way waited that long. The
 * machine is shared, so a single round trip may be late for reasons of its own:
 * the median must stay under 200 ms and the slowest under 2 s.
 */
async function checkServedDuring(t: { diagnostic(m: string): void }, what: string, attack: () => Promise<number[]>, times = 4): Promise<void> {
  const client = await WellBehavedClient.start(s.base, { http: false });
  let codes: number[];
  try {
    codes = await attack();
  } finally {
    const report = await client.stop();
    t.diagnostic(describeLatency(what, report));
    assert.deepEqual(report.failures, []);
    assert.ok(report.p50 < 200, `median echo ${report.p50.toFixed(1)} ms`);
    assert.ok(report.max < 2000, `slowest echo ${report.max.toFixed(1)} ms`);
  }
  assert.deepEqual(codes, new Array(times).fill(1009));
}

test('/push/ws: nested events of 16 MiB closed 1009, unparsed, while another client echoes', async (t) => {
  await checkServedDuring(t, '16 MiB nested events on /push/ws', () => sendBig(`${s.base.replace('http', 'ws')}/push/ws?channel=big`, 4, pushEvent));
});

test('Socket.IO: 1 MB nested packets closed 1009, unparsed, while another client echoes', async (t) => {
  await checkServedDuring(t, '1 MB nested packets on Socket.IO',
    () => sendBig(`${s.base.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, 8, socketIoEvent), 8);
});

test('/push/ws: an event of exactly 64 KiB is still taken', async () => {
  const head = '{"event":"fits","data":"';
  const exact = head + 'z'.repeat(64 * 1024 - head.length - 2) + '"}';
  assert.equal(Buffer.byteLength(exact), 64 * 1024);
  const ws = new WebSocketClient(`${s.base.replace('http', 'ws')}/push/ws?channel=fits`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  ws.send(exact);
  // An event nobody handles is taken quietly; a ping after it proves the connection lives on.
  await new Promise<void>((resolve) => { ws.once('pong', () => resolve()); ws.ping(); });
  ws.close(1000);
  assert.equal(await closed, 1000);
});
