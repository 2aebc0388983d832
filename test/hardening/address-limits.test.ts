/**
 * The subscriptions one client address may hold at once, every technique
 * together (docs/PROTOCOL.md §6.1), over real sockets from 127.0.0.2 and up:
 * past the bound a stream, a long poll and an upgrade get 503 naming it, an
 * in-band push:subscribe closes 1013; another address and loopback are served
 * meanwhile; what the address let go it may take again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import WebSocket from 'ws';
import { metric, scrape, startServer, type Server } from './helpers.js';

const LIMIT = 20;
let s: Server;
before(async () => { s = await startServer(['--max-subscriptions-per-ip', String(LIMIT)]); });
after(() => s.stop());

const list = (prefix: string, n: number): string => Array.from({ length: n }, (_, i) => `${prefix}${i}@0`).join(',');

/** A GET from `localAddress`; resolves with the status and, for a stream, the open response. */
function open(path: string, localAddress: string): Promise<{ status: number; res: http.IncomingMessage; body: () => Promise<any> }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${s.base}${path}`, { localAddress, agent: false }, (res) => {
      resolve({
        status: res.statusCode!,
        res,
        body: async () => {
          let text = '';
          res.setEncoding('utf8');
          for await (const chunk of res) text += chunk;
          return JSON.parse(text);
        },
      });
    });
    req.on('error', reject);
  });
}

function socket(path: string, localAddress: string): WebSocket {
  return new WebSocket(`ws://127.0.0.1:${s.port}${path}`, { localAddress });
}

test('an address past its subscriptions gets 503 on a stream, a poll and an upgrade, 1013 in band; others are served', async () => {
  const refusedBefore = metric(await scrape(s.base), 'pushwire_refusals_total{reason="max_subscriptions_per_ip"}');

  // 10 on an SSE stream and 8 on a WebSocket: 18 of 20.
  const sse = await open(`/push/sse?channels=${list('s', 10)}`, '127.0.0.2');
  assert.equal(sse.status, 200);
  const ws = socket(`/push/ws?channels=${list('w', 8)}`, '127.0.0.2');
  await once(ws, 'open');

  const poll = await open(`/push/longpoll?channels=${list('p', 3)}&timeout=20000`, '127.0.0.2');
  assert.equal(poll.status, 503);
  assert.match((await poll.body()).error, /too many subscriptions from your address \(limit 20\); retry later/);

  const stream = await open(`/push/iframe?channels=${list('i', 3)}&callback=cb`, '127.0.0.2');
  assert.equal(stream.status, 503);
  assert.match((await stream.body()).error, /from your address \(limit 20\)/);

  const upgrade = socket(`/push/ws?channels=${list('u', 3)}`, '127.0.0.2');
  const [, refusal] = await once(upgrade, 'unexpected-response') as [unknown, http.IncomingMessage];
  assert.equal(refusal.statusCode, 503);
  upgrade.on('error', () => {}); // "closed before the connection was established", as it should
  upgrade.terminate();

  // Another address, and loopback (a proxy's clients share it), are not held to this address's count.
  const other = await open(`/push/longpoll?channels=${list('p', 3)}&timeout=1`, '127.0.0.3');
  assert.equal(other.status, 200);
  assert.deepEqual((await other.body()).messages, []);
  const local = await open(`/push/sse?channels=${list('l', 30)}`, '127.0.0.1');
  assert.equal(local.status, 200);
  local.res.destroy();

  // In band: 2 more fit, the third closes the connection 1013.
  const closed = once(ws, 'close') as Promise<[number, Buffer]>;
  for (const channel of ['x1', 'x2', 'x3']) ws.send(JSON.stringify({ event: 'push:subscribe', data: { channel } }));
  const [code, reason] = await closed;
  assert.equal(code, 1013);
  assert.match(reason.toString(), /too many subscriptions from your address \(limit 20\)/);

  const refused = metric(await scrape(s.base), 'pushwire_refusals_total{reason="max_subscriptions_per_ip"}') - refusedBefore;
  assert.equal(refused, 4);

  // What was let go comes back: with the stream closed too, a poll of all 20 is held (answered at its timeout).
  sse.res.destroy();
  const deadline = Date.now() + 2000;
  for (;;) {
    const again = await open(`/push/longpoll?channels=${list('q', LIMIT)}&timeout=1`, '127.0.0.2');
    const body = await again.body();
    if (again.status === 200) {
      assert.deepEqual(body.messages, []);
      break;
    }
    assert.equal(again.status, 503, JSON.stringify(body));
    assert.ok(Date.now() < deadline, "the address's subscriptions were not given back within 2 s of its connections closing");
  }
});
