/**
 * Conditional GETs of the served files (docs/PROTOCOL.md §4.5): each encoding
 * of a file is its own representation with its own ETag, and If-None-Match
 * (RFC 9110 §13.1.2) is read in all its forms: a list, weak tags, `*`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { startServer, type RunningServer } from './helpers.js';

let s: RunningServer;
before(async () => { s = await startServer(); });
after(() => s.stop());

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

function get(path: string, headers: Record<string, string | string[]> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: s.port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const GZIP = { 'Accept-Encoding': 'gzip' };

test('static files: the gzip and the identity body have ETags of their own, and If-None-Match is matched against the one served', async () => {
  const identity = await get('/push.js');
  const gzipped = await get('/push.js', GZIP);
  assert.equal(identity.headers['content-encoding'], undefined);
  assert.equal(gzipped.headers['content-encoding'], 'gzip');
  assert.deepEqual(gunzipSync(gzipped.body), identity.body);
  const plainTag = identity.headers.etag!;
  const gzipTag = gzipped.headers.etag!;
  assert.match(plainTag, /^"[\w-]+"$/);
  assert.equal(gzipTag, `${plainTag.slice(0, -1)}-gz"`, 'the gzip ETag is the identity one with -gz inside the quotes');
  assert.equal(identity.headers.vary, 'Accept-Encoding');
  assert.equal(gzipped.headers.vary, 'Accept-Encoding');

  // A cached identity copy does not validate the gzip body, nor the other way round.
  const wantsGzip = await get('/push.js', { ...GZIP, 'If-None-Match': plainTag });
  assert.equal(wantsGzip.status, 200);
  assert.equal(wantsGzip.headers.etag, gzipTag);
  assert.deepEqual(gunzipSync(wantsGzip.body), identity.body);
  const wantsPlain = await get('/push.js', { 'If-None-Match': gzipTag });
  assert.equal(wantsPlain.status, 200);
  assert.equal(wantsPlain.headers.etag, plainTag);
  assert.deepEqual(wantsPlain.body, identity.body);

  // Each copy validates itself: 304 with its own ETag and Vary.
  for (const [headers, tag] of [[GZIP, gzipTag], [{}, plainTag]] as const) {
    const revalidated = await get('/push.js', { ...headers, 'If-None-Match': tag });
    assert.equal(revalidated.status, 304, tag);
    assert.equal(revalidated.headers.etag, tag);
    assert.equal(revalidated.headers.vary, 'Accept-Encoding');
    assert.equal(revalidated.body.length, 0);
  }
});

test('static files: If-None-Match as a list, in several header lines, and weak tags (weak comparison)', async () => {
  const plainTag = (await get('/push.js')).headers.etag!;
  const gzipTag = (await get('/push.js', GZIP)).headers.etag!;
  const cases: Array<[headers: Record<string, string | string[]>, status: number]> = [
    [{ ...GZIP, 'If-None-Match': `"other", ${gzipTag}` }, 304],
    [{ ...GZIP, 'If-None-Match': `"other",W/${gzipTag}` }, 304],
    [{ ...GZIP, 'If-None-Match': ['"other"', gzipTag] }, 304],
    [{ 'If-None-Match': `W/${plainTag}` }, 304],
    [{ 'If-None-Match': `"a",\t"b" , W/${plainTag}` }, 304],
    [{ 'If-None-Match': '"a", "b"' }, 200],
    [{ 'If-None-Match': plainTag.slice(1, -1) }, 200], // not an entity tag: no quotes
    [{ 'If-None-Match': `W/"${plainTag}"` }, 200],
    // A tag of the other encoding, in a list or weak, validates nothing.
    [{ ...GZIP, 'If-None-Match': `"other", W/${plainTag}` }, 200],
    [{ 'If-None-Match': ['"other"', `W/${gzipTag}`] }, 200],
  ];
  for (const [headers, status] of cases) {
    const answer = await get('/push.js', headers);
    assert.equal(answer.status, status, JSON.stringify(headers));
  }
});

test('/socket.io/socket.io.js: If-None-Match with its tag, weak or in a list gets 304; another tag 200', async () => {
  const script = await get('/socket.io/socket.io.js');
  assert.equal(script.status, 200);
  const tag = script.headers.etag!;
  assert.match(tag, /^"[\w-]+"$/);
  for (const inm of [tag, `W/${tag}`, `"other", ${tag}`, `"other",W/${tag}`]) {
    const answer = await get('/socket.io/socket.io.js', { 'If-None-Match': inm });
    assert.equal(answer.status, 304, inm);
    assert.equal(answer.headers.etag, tag);
    assert.equal(answer.body.length, 0);
  }
  const other = await get('/socket.io/socket.io.js', { 'If-None-Match': '"other"' });
  assert.equal(other.status, 200);
  assert.deepEqual(other.body, script.body);
});

test('static files: If-None-Match: * gets 304 for a file that exists, GET and HEAD, either encoding', async () => {
  const plainTag = (await get('/push.js')).headers.etag!;
  const gzipTag = (await get('/push.js', GZIP)).headers.etag!;
  for (const method of ['GET', 'HEAD']) {
    const plain = await get('/push.js', { 'If-None-Match': '*' }, method);
    assert.equal(plain.status, 304, method);
    assert.equal(plain.headers.etag, plainTag);
    const gzipped = await get('/push.js', { ...GZIP, 'If-None-Match': '*' }, method);
    assert.equal(gzipped.status, 304, method);
    assert.equal(gzipped.headers.etag, gzipTag);
  }
  // A file too small to compress has one representation; `/` is index.html.
  const module = await get('/pushwire.mjs', GZIP);
  assert.equal(module.headers['content-encoding'], undefined);
  for (const inm of ['*', `W/${module.headers.etag}`, `"other", ${module.headers.etag}`]) {
    const answer = await get('/pushwire.mjs', { ...GZIP, 'If-None-Match': inm });
    assert.equal(answer.status, 304, inm);
    assert.equal(answer.headers.etag, module.headers.etag);
  }
  assert.equal((await get('/', { 'If-None-Match': '*' })).status, 304);
  assert.equal((await get('/nothing-here.js', { 'If-None-Match': '*' })).status, 404);
});

test('/socket.io/socket.io.js: If-None-Match: * gets 304, GET and HEAD', async () => {
  const tag = (await get('/socket.io/socket.io.js')).headers.etag!;
  for (const method of ['GET', 'HEAD']) {
    const answer = await get('/socket.io/socket.io.js', { 'If-None-Match': '*' }, method);
    assert.equal(answer.status, 304, method);
    assert.equal(answer.headers.etag, tag);
    assert.equal(answer.body.length, 0);
  }
});
