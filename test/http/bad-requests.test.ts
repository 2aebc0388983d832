import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { startServer, type RunningServer } from '../app/helpers.js';

/** Raw HTTP exchanges the server must answer with a status and a JSON error, staying up. */
let s: RunningServer;
before(async () => { s = await startServer(); });
after(() => s.stop());

function raw(port: number, request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => { text += d; });
    socket.on('error', reject);
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!m) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 80))}`));
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split);
      const length = /\r\ncontent-length: (\d+)/i.exec(head);
      const body = text.slice(split + 4);
      if (length) assert.equal(Buffer.byteLength(body, 'latin1'), Number(length[1]), 'Content-Length matches the body');
      resolve({ status: Number(m[1]), body });
    });
    setTimeout(() => socket.destroy(), 3000).unref();
  });
}

test('a request target that is neither a path nor an absolute URL gets 400; a path no route has, 404', async () => {
  const cases: Array<[target: string, status: number, error: string]> = [
    ['http://[', 400, 'bad request target'], // absolute-form with a bad host
    ['*', 400, 'bad request target'], // asterisk-form, for OPTIONS only
    ['nonsense', 400, 'bad HTTP request'], // no form at all: the parser refuses it
    ['/[', 404, 'no such path: /['], // a path, as browsers send it
    ['//[', 404, 'no such path: //['],
  ];
  for (const [target, status, error] of cases) {
    const answer = await raw(s.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    assert.deepEqual({ status: answer.status, body: JSON.parse(answer.body) }, { status, body: { error } }, target);
  }
  const res = await fetch(`${s.base}/api/registrations`);
  assert.equal(res.status, 200);
});

test('"//host/path" is a path, not a host', async () => {
  const { status } = await raw(s.port, 'GET //evil.example/api/registrations HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  assert.equal(status, 404);
});

test('an unparseable request gets a complete JSON 400', async () => {
  const { status, body } = await raw(s.port, 'GARBAGE\r\n\r\n');
  assert.equal(status, 400);
  assert.deepEqual(JSON.parse(body), { error: 'bad HTTP request' });
});

test('an upgrade request target is read as any other: 400 for a bad one, 404 for a path with no endpoint', async () => {
  const upgrade = (target: string) => raw(s.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const cases: Array<[target: string, status: number, error: string]> = [
    ['http://[/push/ws', 400, 'bad request target'],
    ['*', 400, 'bad request target'],
    ['//[/push/ws', 404, 'no WebSocket endpoint at //[/push/ws'],
    ['/push/ws/', 404, 'no WebSocket endpoint at /push/ws/'],
  ];
  for (const [target, status, error] of cases) {
    const answer = await upgrade(target);
    assert.deepEqual({ status: answer.status, body: JSON.parse(answer.body) }, { status, body: { error } }, target);
  }
});

test('an upgrade in absolute form reaches its endpoint', async () => {
  const socket = net.connect(s.port, '127.0.0.1');
  socket.write(`GET http://127.0.0.1:${s.port}/echo HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const [head] = await once(socket, 'data') as [Buffer];
  socket.destroy();
  assert.match(head.toString('latin1'), /^HTTP\/1\.1 101 /);
});

test('a JSON body that is not valid UTF-8 gets 400, not U+FFFD', async () => {
  for (const path of ['/api/registrations', '/push/emit']) {
    const body = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","event":"chat message","data":"x"}')]);
    const res = await fetch(s.base + path, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 400, path);
    assert.match((await res.json() as { error: string }).error, /UTF-8/);
  }
});

test('an HTTP/1.1 request without Host gets a JSON 400', async () => {
  const { status, body } = await raw(s.port, 'GET /api/registrations HTTP/1.1\r\nConnection: close\r\n\r\n');
  assert.equal(status, 400);
  assert.match(JSON.parse(body).error, /Host/);
});

test('a connection that says nothing is dropped after the idle timeout', async () => {
  const quick = await startServer({}, { idleTimeout: 300 });
  try {
    const socket = net.connect(quick.port, '127.0.0.1');
    const t0 = Date.now();
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const waited = Date.now() - t0;
    assert.ok(waited >= 250 && waited < 5000, `closed after ${waited} ms`);
  } finally {
    await quick.stop();
  }
});

test('CONNECT gets a JSON 405', async () => {
  const { status, body } = await raw(s.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
  assert.equal(status, 405);
  assert.ok(JSON.parse(body).error);
});
