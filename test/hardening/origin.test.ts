/**
 * Cross-site WebSocket hijacking and cross-site POSTs: a page of another site
 * gets 403 on every upgrade, every push path and every POST (a form or a
 * `text/plain` fetch needs no preflight, so the server must refuse it itself),
 * and nothing happens (no registration, no publish). The server's own pages,
 * the allowed origins and clients without Origin pass. A well-behaved client
 * is served throughout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { metric, openUpgrade, rawExchange, scrape, startServer, whileServing, type Server } from './helpers.js';

let s: Server;
let custom: Server;
before(async () => {
  [s, custom] = await Promise.all([startServer(), startServer(['--allow-origin', 'https://app.example,null'])]);
});
after(() => Promise.all([s.stop(), custom.stop()]));

const EVIL = 'http://evil.example';

/** Every way a page can reach the server, as [label, raw request]. */
function requests(port: number, origin: string | null): [string, string][] {
  const head = (method: string, path: string, extra = '') =>
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${origin === null ? '' : `Origin: ${origin}\r\n`}${extra}Connection: close\r\n`;
  const post = (path: string, body: string) =>
    head('POST', path, `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`) + '\r\n' + body;
  return [
    ['poll', head('GET', '/push/poll?channel=o') + '\r\n'],
    ['longpoll', head('GET', '/push/longpoll?channel=o&timeout=0') + '\r\n'],
    ['sse (HEAD)', head('HEAD', '/push/sse?channel=o') + '\r\n'],
    ['iframe (HEAD)', head('HEAD', '/push/iframe?channel=o&callback=f') + '\r\n'],
    ['emit', post('/push/emit', JSON.stringify({ event: 'chat message', data: 'from a form' }))],
    ['register', post('/api/registrations', JSON.stringify({ name: `cross-site ${origin}` }))],
  ];
}

const upgrades = ['/push/ws?channel=o', '/echo'];

async function count(base: string): Promise<number> {
  return ((await (await fetch(`${base}/api/registrations`)).json()) as { count: number }).count;
}

test('another site gets 403 on every upgrade, push path and POST, and nothing happens', async (t) => {
  const before = await scrape(s.base);
  const countBefore = await count(s.base);
  let refused = 0;
  await whileServing(t, s.base, 'cross-origin attempts', async () => {
    for (const origin of [EVIL, 'null', 'http://127.0.0.2', `https://127.0.0.1:${s.port + 1}`, 'http://localhost.evil.example', 'garbage']) {
      for (const [label, request] of requests(s.port, origin)) {
        const answer = await rawExchange(s.port, request);
        assert.equal(answer.status, 403, `${label} from ${origin}: ${answer.text.slice(0, 80)}`);
        if (!label.includes('HEAD')) assert.ok(typeof answer.json.error === 'string', `${label}: JSON error`);
        refused++;
      }
      for (const path of upgrades) {
        const answer = await openUpgrade(s.port, path, undefined, { Origin: origin });
        assert.equal(answer.status, 403, `${path} from ${origin}`);
        assert.doesNotMatch(answer.text(), /Sec-WebSocket-Accept/i);
        await answer.closed;
        refused++;
      }
    }
  });
  assert.equal(await count(s.base), countBefore, 'no registration went through');
  const chat = await (await fetch(`${s.base}/push/poll?channel=chat&since=0`)).json() as { messages: unknown[] };
  assert.deepEqual(chat.messages, [], 'nothing was published');
  const after = await scrape(s.base);
  assert.equal(metric(after, 'pushwire_refusals_total{reason="origin"}') - metric(before, 'pushwire_refusals_total{reason="origin"}'), refused);
});

test("the server's own origin (http or https), the default localhost origins and clients without Origin pass", async (t) => {
  await whileServing(t, s.base, 'same-origin requests', async () => {
    for (const origin of [`http://127.0.0.1:${s.port}`, `https://127.0.0.1:${s.port}`, 'http://localhost:5173', 'http://127.0.0.1:8080', null]) {
      for (const [label, request] of requests(s.port, origin)) {
        const answer = await rawExchange(s.port, request);
        const expected = label === 'emit' ? 202 : label === 'register' ? 201 : 200;
        assert.equal(answer.status, expected, `${label} from ${origin}: ${answer.text.slice(0, 120)}`);
      }
      for (const path of upgrades) {
        const answer = await openUpgrade(s.port, path, undefined, origin === null ? {} : { Origin: origin });
        assert.equal(answer.status, 101, `${path} from ${origin}`);
        answer.socket.destroy();
      }
    }
  });
});

test('reads of pages and resources are not checked: another site may load /, /push.js, the count and /metrics', async () => {
  for (const path of ['/', '/push.js', '/api/registrations', '/metrics']) {
    const res = await fetch(`${s.base}${path}`, { headers: { Origin: EVIL } });
    assert.equal(res.status, 200, path);
    await res.arrayBuffer();
  }
});

test('--allow-origin replaces the default list: listed origins pass, localhost no longer, the own origin still', async () => {
  const cases: [string, number][] = [
    ['https://app.example', 101],
    ['null', 101],
    ['http://app.example', 403],
    ['http://localhost:5173', 403],
    [`http://127.0.0.1:${custom.port}`, 101],
    [EVIL, 403],
  ];
  for (const [origin, status] of cases) {
    const answer = await openUpgrade(custom.port, '/push/ws?channel=o', undefined, { Origin: origin });
    assert.equal(answer.status, status, origin);
    answer.socket.destroy();
    const post = await rawExchange(custom.port, `POST /push/emit HTTP/1.1\r\nHost: 127.0.0.1:${custom.port}\r\nOrigin: ${origin}\r\n` +
      'Content-Type: text/plain\r\nContent-Length: 31\r\nConnection: close\r\n\r\n{"event":"nothing","data":null}');
    assert.equal(post.status, status === 101 ? 202 : 403, `POST from ${origin}`);
  }
});

test('the absolute form of a request target, dot segments and a HEAD cannot slip a push path past the check', async () => {
  for (const target of [`http://127.0.0.1:${s.port}/push/poll?channel=o`, '/x/../push/poll?channel=o', '/push/./poll?channel=o']) {
    const answer = await rawExchange(s.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nOrigin: ${EVIL}\r\nConnection: close\r\n\r\n`);
    assert.equal(answer.status, 403, target);
  }
});
