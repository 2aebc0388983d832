/**
 * Connection limits, over real sockets from several loopback addresses
 * (127.0.0.2 and up; Linux routes all of 127/8 to the loopback): one address
 * past its quota gets 503 while others are served; an upgrade flood past the
 * overall limit gets 503 before any handshake, while clients already
 * connected keep being served; the slots come back when connections close.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { metric, openUpgrade, rawExchange, scrape, scrapeUntil, startServer, whileServing, type Server } from './helpers.js';

const MAX = 60;
const PER_IP = 25;

let s: Server;
before(async () => { s = await startServer(['--max-connections', String(MAX), '--max-connections-per-ip', String(PER_IP)]); });
after(() => s.stop());

type Held = Awaited<ReturnType<typeof openUpgrade>>;

async function holdWebSockets(n: number, localAddress: string): Promise<Held[]> {
  const held = await Promise.all(Array.from({ length: n }, () => openUpgrade(s.port, '/push/ws?channel=limits', localAddress)));
  for (const h of held) assert.equal(h.status, 101, h.text());
  return held;
}

async function release(held: Held[]): Promise<void> {
  for (const h of held) h.socket.destroy();
  await Promise.all(held.map((h) => h.closed));
}

function get(path: string, localAddress: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    http.get(`${s.base}${path}`, { localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

test('one address past its quota gets 503 (HTTP and upgrades, before any handshake); other addresses are served', async (t) => {
  const before = await scrape(s.base);
  await whileServing(t, s.base, 'a per-address flood', async () => {
    const held = await holdWebSockets(PER_IP, '127.0.0.2');
    const refusedUpgrades = await Promise.all(Array.from({ length: 40 }, () => openUpgrade(s.port, '/push/ws?channel=limits', '127.0.0.2')));
    for (const r of refusedUpgrades) {
      assert.equal(r.status, 503, r.text());
      assert.match(r.text(), /too many connections from your address \(limit 25\)/);
      assert.doesNotMatch(r.text(), /Sec-WebSocket-Accept/i);
      await r.closed;
    }
    const refusedGet = await get('/api/registrations', '127.0.0.2');
    assert.equal(refusedGet.status, 503);
    assert.match(refusedGet.body.error, /from your address/);
    // Another address is served meanwhile, HTTP and WebSocket alike.
    assert.equal((await get('/api/registrations', '127.0.0.4')).status, 200);
    const other = await openUpgrade(s.port, '/push/ws?channel=limits', '127.0.0.4');
    assert.equal(other.status, 101);
    other.socket.destroy();
    // A slot freed is a slot given again.
    await release(held.splice(0, 1));
    await scrapeUntil(s.base, (text) => metric(text, 'pushwire_connections_open') <= PER_IP + 2, 'the freed slot');
    const again = await openUpgrade(s.port, '/push/ws?channel=limits', '127.0.0.2');
    assert.equal(again.status, 101);
    held.push(again);
    await release(held);
  });
  const after = await scrape(s.base);
  const refused = 'pushwire_refusals_total{reason="max_connections_per_ip"}';
  assert.equal(metric(after, refused) - metric(before, refused), 41);
});

test('an upgrade flood past the overall limit gets 503 before any handshake; connected clients keep being served', async (t) => {
  const before = await scrape(s.base);
  let refusedCount = 0;
  await whileServing(t, s.base, `an upgrade flood past --max-connections ${MAX}`, async () => {
    // Fill the server up to its limit from three addresses (the client's two connections and a scrape's count too).
    const open = metric(await scrape(s.base), 'pushwire_connections_open');
    const room = MAX - open;
    const held = [
      ...await holdWebSockets(Math.min(PER_IP, room), '127.0.0.5'),
      ...await holdWebSockets(Math.min(PER_IP, Math.max(0, room - PER_IP)), '127.0.0.6'),
      ...await holdWebSockets(Math.max(0, room - 2 * PER_IP), '127.0.0.7'),
    ];
    // The flood: 300 upgrades at once from 30 addresses, to both WebSocket endpoints.
    const flood = await Promise.all(Array.from({ length: 300 }, (_, i) =>
      openUpgrade(s.port, i % 2 ? '/echo' : '/push/ws?channel=limits', `127.0.1.${1 + (i % 30)}`)));
    for (const r of flood) {
      assert.equal(r.status, 503, r.text());
      assert.match(r.text(), /"error":"too many connections \(limit 60\); retry later"/);
      await r.closed;
    }
    refusedCount = flood.length;
    // A plain request past the limit gets the same answer, as JSON.
    const answer = await rawExchange(s.port, 'GET /api/registrations HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', { localAddress: '127.0.0.8' });
    assert.equal(answer.status, 503);
    assert.match(answer.json.error, /too many connections/);
    refusedCount++;
    await release(held);
  }, { http: true, ws: true });
  // Everyone is let in again.
  const after = await scrapeUntil(s.base, (text) => metric(text, 'pushwire_connections_open') <= 2, 'connections closed');
  const again = await openUpgrade(s.port, '/echo', '127.0.0.9');
  assert.equal(again.status, 101);
  again.socket.destroy();
  const refused = 'pushwire_refusals_total{reason="max_connections"}';
  assert.equal(metric(after, refused) - metric(before, refused), refusedCount);
});

test('a connection past the limit that sends nothing is closed after a short grace, with the 503', async () => {
  // Fill every slot: open WebSockets from fresh addresses until one is refused.
  const held: Held[] = [];
  for (let i = 0; ; i++) {
    const h = await openUpgrade(s.port, '/echo', `127.0.2.${1 + Math.floor(i / PER_IP)}`);
    if (h.status !== 101) break;
    held.push(h);
  }
  try {
    const silent = await rawExchange(s.port, '', { localAddress: '127.0.3.1', timeout: 5000 });
    assert.equal(silent.status, 503);
    assert.ok(silent.closedAfter < 3000, `closed after ${silent.closedAfter} ms`);
  } finally {
    await release(held);
  }
});
