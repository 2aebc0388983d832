import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { parseJournal } from '../../src/app/journal.js';
import { register, request, startServer } from './helpers.js';

test('200 concurrent registrations for 50 places: exactly 50 × 201 and 150 × 409, each count published once, in order', async () => {
  const s = await startServer({ capacity: 50 });
  try {
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => register(s.base, `Person ${i}`)));
    const created = answers.filter((a) => a.status === 201);
    const refused = answers.filter((a) => a.status === 409);
    assert.equal(created.length, 50);
    assert.equal(refused.length, 150);
    for (const a of refused) assert.deepEqual(a.json, { error: 'full' });
    assert.deepEqual(created.map((a) => a.json.count).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i + 1));
    for (const a of created) assert.equal(a.json.capacity, 50);

    const poll = await request(s.base, 'GET', '/push/poll?channel=registrations&since=0');
    const messages = poll.json.messages as { id: number; event: string; data: { count: number; capacity: number } }[];
    assert.deepEqual(messages.map((m) => m.data.count), Array.from({ length: 50 }, (_, i) => i + 1));
    for (let i = 1; i < messages.length; i++) assert.equal(messages[i]!.id, messages[i - 1]!.id + 1);
    for (const m of messages) assert.equal(m.event, 'count');

    const state = await request(s.base, 'GET', '/api/registrations');
    assert.deepEqual(state.json, { count: 50, capacity: 50, last: poll.json.last });
    assert.match(String(state.headers['content-type']), /^application\/json/);
  } finally {
    await s.stop();
  }
  const journal = parseJournal(fs.readFileSync(path.join(s.dataDir, 'registrations.journal')));
  assert.equal(journal.registrations.length, 50);
  assert.equal(new Set(journal.registrations.map((r) => r.name)).size, 50);
});

test('every bad input of the demo gets its status', async () => {
  const s = await startServer({ capacity: 5 });
  const post = (body: string | Buffer, headers?: Record<string, string>) => request(s.base, 'POST', '/api/registrations', body, headers);
  try {
    // 400: not JSON, not an object, no usable name.
    for (const body of ['{bad', '', 'null', '[]', '"Ada"', '42', '{}', '{"name":5}', '{"name":null}', '{"name":""}', '{"name":" \\t\\n\\u3000 "}', '{"name":"\\ud800"}']) {
      const a = await post(body);
      assert.equal(a.status, 400, `body ${body}`);
      assert.equal(typeof a.json.error, 'string', `error message for ${body}`);
    }
    // 100 code points (astral: 200 UTF-16 units) after trimming is fine; 101 is not.
    assert.equal((await post(JSON.stringify({ name: '😀'.repeat(101) }))).status, 400);
    assert.equal((await post(JSON.stringify({ name: 'x'.repeat(101) }))).status, 400);
    const hundred = await post(JSON.stringify({ name: `  ${'😀'.repeat(100)}  ` }));
    assert.equal(hundred.status, 201, hundred.text);
    assert.deepEqual(hundred.json, { count: 1, capacity: 5 });

    // A body of exactly 64 KiB is read; one byte more is 413, announced or streamed.
    const head = '{"name":"Padded"';
    const exact = Buffer.from(head + ' '.repeat(64 * 1024 - head.length - 1) + '}');
    assert.equal(exact.length, 65536);
    const atLimit = await post(exact);
    assert.equal(atLimit.status, 201, atLimit.text);
    const over = Buffer.from(head + ' '.repeat(64 * 1024 - head.length) + '}');
    assert.equal(over.length, 65537);
    assert.equal((await post(over)).status, 413);
    assert.equal((await post(over, { 'Transfer-Encoding': 'chunked' })).status, 413);

    // Names compare after Unicode lower-casing.
    assert.equal((await post('{"name":"Émile"}')).status, 201);
    for (const twin of ['émile', 'ÉMILE', '  émile ']) {
      const a = await post(JSON.stringify({ name: twin }));
      assert.equal(a.status, 409, twin);
      assert.deepEqual(a.json, { error: 'already registered' });
    }
    assert.equal((await post('{"name":"Zoë"}')).status, 201);
    assert.equal((await post('{"name":"Ada"}')).json.count, 5);
    // Full now: a taken name still hears "already registered", a new one "full".
    assert.deepEqual((await post('{"name":"ADA"}')).json, { error: 'already registered' });
    const full = await post('{"name":"Newcomer"}');
    assert.equal(full.status, 409);
    assert.deepEqual(full.json, { error: 'full' });

    assert.equal((await request(s.base, 'PUT', '/api/registrations', '{}')).status, 405);
    assert.deepEqual((await request(s.base, 'GET', '/api/registrations')).json.count, 5);
  } finally {
    await s.stop();
  }
});

test('chat: a string of 1 to 1000 characters from any client is published on channel chat; anything else is refused', async () => {
  const s = await startServer();
  try {
    const emit = (data: unknown) => request(s.base, 'POST', '/push/emit', JSON.stringify({ event: 'chat message', data }));
    assert.equal((await emit('hello over HTTP')).status, 202);
    assert.equal((await emit('😀'.repeat(1000))).status, 202);
    for (const bad of ['', 'x'.repeat(1001), '😀'.repeat(1001), 42, null, ['hi'], { text: 'hi' }]) {
      const a = await emit(bad);
      assert.equal(a.status, 400, JSON.stringify(bad).slice(0, 40));
      assert.equal(typeof a.json.error, 'string');
    }

    // Over /push/ws: the sender, subscribed to chat, gets its own message back, with an id.
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/push/ws?channel=chat`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const got = new Promise<any>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))));
    ws.send(JSON.stringify({ event: 'chat message', data: 'hello over WebSocket' }));
    const message = await got;
    assert.equal(message.event, 'chat message');
    assert.equal(message.data, 'hello over WebSocket');
    assert.equal(typeof message.id, 'number');
    // A refused chat message closes that WebSocket with 1008.
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ event: 'chat message', data: '' }));
    assert.equal(await closed, 1008);

    const poll = await request(s.base, 'GET', '/push/poll?channel=chat&since=0');
    assert.deepEqual(poll.json.messages.map((m: { data: string }) => m.data), ['hello over HTTP', '😀'.repeat(1000), 'hello over WebSocket']);
  } finally {
    await s.stop();
  }
});

/** A request with the path sent exactly as written (no normalisation by a URL parser). */
function rawGet(port: number, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('static files: the page and /push.js with their types and caching, nothing from outside their folder', async () => {
  const s = await startServer();
  try {
    const page = await rawGet(s.port, '/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(page.body.toString(), /places taken/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    // No external resources: every src/href is local (or a data: favicon).
    for (const [, url] of page.body.toString().matchAll(/(?:src|href)="([^"]*)"/g)) assert.match(url!, /^(\/[a-z.]+|data:,)$/, url);

    const client = await rawGet(s.port, '/push.js');
    assert.equal(client.status, 200);
    assert.equal(client.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(client.headers['cache-control'], 'no-cache');
    assert.match(String(client.headers.etag), /^"[\w-]+"$/);
    assert.match(client.body.toString(), /pushwire/);
    const revalidated = await rawGet(s.port, '/push.js', { 'If-None-Match': client.headers.etag! });
    assert.equal(revalidated.status, 304);
    assert.equal(revalidated.body.length, 0);
    const gzipped = await rawGet(s.port, '/push.js', { 'Accept-Encoding': 'br, gzip;q=0.8' });
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    assert.equal(gzipped.headers.vary, 'Accept-Encoding');
    assert.deepEqual(gunzipSync(gzipped.body), client.body);
    assert.equal((await rawGet(s.port, '/push.js', { 'Accept-Encoding': 'gzip;q=0' })).headers['content-encoding'], undefined);

    assert.equal((await rawGet(s.port, '/style.css')).headers['content-type'], 'text/css; charset=utf-8');
    assert.equal((await rawGet(s.port, '/page.js')).headers['content-type'], 'text/javascript; charset=utf-8');

    for (const escape of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/%2e%2e%2fpackage.json', '/push.js/../../package.json',
      '/..\\package.json', '/public/push.js', '//etc/passwd', '/%2fetc%2fpasswd', '/../../../../etc/passwd', '/.%2e/src/config.ts', '/push.js%00.html']) {
      const a = await rawGet(s.port, escape);
      assert.equal(a.status, 404, escape);
      assert.doesNotMatch(a.body.toString(), /"name": "pushwire"|root:/, escape);
    }
  } finally {
    await s.stop();
  }
});
