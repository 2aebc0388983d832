/**
 * GET /metrics of the whole server, over real sockets: the text format with
 * HELP and TYPE for every family, and figures that follow what clients do.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import net from 'node:net';
import { connect } from '../../src/websocket/client.js';
import type { WebSocketCloseMessage } from '../../src/websocket/diagnostics.js';
import { DEFAULTS } from '../../src/config.js';
import { createPushwireServer } from '../../src/pushwire-server.js';
import { startServer, tempDataDir, type RunningServer } from '../app/helpers.js';
import { metric, scrapeUntil } from '../hardening/helpers.js';

let s: RunningServer;
before(async () => { s = await startServer(); });
after(() => s.stop());

async function scrape(): Promise<string> {
  const res = await fetch(`${s.base}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

test('Prometheus text format 0.0.4: its content type, and HELP and TYPE before every family', async () => {
  const res = await fetch(`${s.base}/metrics`);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const families = new Set<string>();
  const lines = text.split('\n');
  assert.equal(lines.pop(), '');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const help = /^# HELP (\S+) .+$/.exec(line);
    if (help) {
      assert.match(lines[i + 1]!, new RegExp(`^# TYPE ${help[1]} (counter|gauge)$`));
      families.add(help[1]!);
      i++;
      continue;
    }
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
    assert.ok(name && families.has(name), `a sample after its family's HELP and TYPE: ${line}`);
  }
  for (const family of ['pushwire_connections_open', 'pushwire_http_requests_total', 'pushwire_refusals_total', 'pushwire_timeouts_total',
    'pushwire_bytes_received_total', 'pushwire_bytes_sent_total', 'pushwire_websockets_open', 'pushwire_websocket_closes_total',
    'pushwire_push_connections', 'pushwire_push_subscriptions', 'process_resident_memory_bytes', 'process_open_fds',
    'nodejs_eventloop_lag_p99_seconds']) {
    assert.ok(families.has(family), family);
  }
  const head = await fetch(`${s.base}/metrics`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
});

test('requests are counted by status class, refusals by reason, bytes both ways', async () => {
  const before = await scrape();
  await (await fetch(`${s.base}/api/registrations`)).text();
  await (await fetch(`${s.base}/nowhere`)).text();
  await (await fetch(`${s.base}/push/poll?channel=m`, { headers: { Origin: 'http://evil.example' } })).text();
  const payload = 'x'.repeat(10_000);
  await (await fetch(`${s.base}/push/emit`, { method: 'POST', body: JSON.stringify({ event: 'e', data: payload }) })).text();
  const after = await scrape();
  const delta = (sample: string) => metric(after, sample) - metric(before, sample);
  assert.equal(delta('pushwire_http_requests_total{status_class="2xx"}'), 3, 'three 2xx: the count, the emit and the first scrape');
  assert.equal(delta('pushwire_http_requests_total{status_class="4xx"}'), 2);
  assert.equal(delta('pushwire_refusals_total{reason="origin"}'), 1);
  assert.ok(delta('pushwire_bytes_received_total') > payload.length, 'the body was read');
  assert.ok(delta('pushwire_bytes_sent_total') > before.length, 'the first scrape was sent');
});

test('WebSockets: open now, and closes by code (1000, 1006, 1009; 4001 as "other")', async () => {
  const before = await scrape();
  const open = async () => {
    const ws = connect(`ws://127.0.0.1:${s.port}/echo`);
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    return ws;
  };
  const sockets = await Promise.all([open(), open(), open(), open()]);
  await scrapeUntil(s.base, (text) => metric(text, 'pushwire_websockets_open') - metric(before, 'pushwire_websockets_open') === 4, 'four open');
  const closed = sockets.map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
  sockets[0]!.close(1000);
  sockets[1]!.close(4001, 'app');
  sockets[2]!.terminate();
  sockets[3]!.send(Buffer.alloc(17 * 1024 * 1024)); // past the 16 MiB default: 1009
  await Promise.all(closed);
  // The server sees each close a moment after the client.
  let after = '';
  for (let i = 0; i < 100; i++) {
    after = await scrape();
    if (metric(after, 'pushwire_websockets_open') === metric(before, 'pushwire_websockets_open')) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const delta = (code: number | string) => metric(after, `pushwire_websocket_closes_total{code="${code}"}`) - metric(before, `pushwire_websocket_closes_total{code="${code}"}`);
  assert.deepEqual([delta(1000), delta('other'), delta(1006), delta(1009)], [1, 1, 1, 1]);
  assert.equal(metric(after, 'pushwire_websockets_open'), metric(before, 'pushwire_websockets_open'));
});

test('close codes a client picks (4321, 3999) are counted under code="other", not a series each', async () => {
  // The server publishes each close on this channel after the metrics (subscribed first) counted it.
  let serverCloses = 0;
  let bothCounted!: () => void;
  const counted = new Promise<void>((resolve) => { bothCounted = resolve; });
  const onClose = (message: unknown) => {
    if ((message as WebSocketCloseMessage).isServer && ++serverCloses === 2) bothCounted();
  };
  diagnosticsChannel.subscribe('pushwire:websocket:close', onClose);
  try {
    const before = await scrape();
    for (const code of [4321, 3999]) {
      const ws = connect(`ws://127.0.0.1:${s.port}/echo`);
      await new Promise<void>((resolve) => ws.once('open', () => resolve()));
      const closed = new Promise<number>((resolve) => ws.once('close', (echoed: number) => resolve(echoed)));
      ws.close(code);
      assert.equal(await closed, code, 'the server echoes the code it was sent');
    }
    await counted;
    const after = await scrape();
    const other = 'pushwire_websocket_closes_total{code="other"}';
    assert.equal(metric(after, other) - metric(before, other), 2);
    const codes = after.split('\n').filter((line) => line.startsWith('pushwire_websocket_closes_total{'))
      .map((line) => /code="([^"]*)"/.exec(line)![1]!);
    for (const code of codes) assert.match(code, /^(10(0[0-35-9]|1[0-5])|other)$/, `a registered code or "other": ${code}`);
    assert.ok(!codes.includes('4321') && !codes.includes('3999'));
  } finally {
    diagnosticsChannel.unsubscribe('pushwire:websocket:close', onClose);
  }
});

test('connections open follow the clients; request heads that never come are counted as timeouts', async () => {
  const quick = createPushwireServer({ ...DEFAULTS, port: 0, dataDir: tempDataDir(), headersTimeout: 300 }, { log: () => {} });
  const { port } = await quick.listen();
  try {
    const scrapeQuick = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const base = await scrapeQuick();
    const closed: Promise<string>[] = [];
    await Promise.all(Array.from({ length: 5 }, () => new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve());
      let text = '';
      socket.on('data', (c) => { text += c; });
      socket.on('error', () => {});
      closed.push(new Promise((done) => socket.on('close', () => done(text))));
    })));
    // The kernel completes a connect before the server's accept: wait for the server to count them.
    await scrapeUntil(`http://127.0.0.1:${port}`, (text) => metric(text, 'pushwire_connections_open') - metric(base, 'pushwire_connections_open') === 5, 'five open');
    for (const text of await Promise.all(closed)) assert.match(text, /^HTTP\/1\.1 408 /);
    const after = await scrapeQuick();
    assert.equal(metric(after, 'pushwire_timeouts_total{kind="headers"}') - metric(base, 'pushwire_timeouts_total{kind="headers"}'), 5);
    assert.equal(metric(after, 'pushwire_connections_open'), metric(base, 'pushwire_connections_open'));
  } finally {
    await quick.shutdown();
  }
});
