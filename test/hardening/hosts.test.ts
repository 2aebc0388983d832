/**
 * DNS rebinding (docs/PROTOCOL.md §6.3, "The Host check"): a page of
 * evil.example whose name now resolves to 127.0.0.1 sends `Host:
 * evil.example:PORT` and `Origin: http://evil.example:PORT`, its own origin.
 * Upgrades, streams, polls and POSTs naming a host the server does not
 * answer to get 403; the loopback names, --host and --allow-host pass.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostRefusal, parseAllowedHosts } from '../../src/http/hosts.js';
import net from 'node:net';
import { rawExchange, startServer, type Server } from './helpers.js';

/** The status of the first answer (streams and upgrades stay open: the connection is dropped once it is in). */
function firstStatus(port: number, bytes: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer; got ${JSON.stringify(text)}`)); }, 5000);
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
      if (m) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ status: Number(m[1]), text });
      }
    });
  });
}

let s: Server;
let custom: Server;
before(async () => {
  [s, custom] = await Promise.all([startServer(), startServer(['--allow-host', 'push.example,.apps.example'])]);
});
after(() => Promise.all([s.stop(), custom.stop()]));

function head(method: string, path: string, host: string, extra = ''): string {
  return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\n${extra}Connection: close\r\n` +
    (method === 'POST' ? '' : '\r\n');
}

function exchanges(host: string): [string, string][] {
  const body = (json: string) => `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
  const upgrade = 'Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
  return [
    ['upgrade /push/ws', head('GET', '/push/ws?channel=rebind', host, upgrade).replace('Connection: close', 'Connection: Upgrade')],
    ['upgrade /echo', head('GET', '/echo', host, upgrade).replace('Connection: close', 'Connection: Upgrade')],
    ['stream /push/sse', head('GET', '/push/sse?channel=rebind', host)],
    ['stream /push/iframe', head('GET', '/push/iframe?channel=rebind', host)],
    ['poll /push/longpoll', head('GET', '/push/longpoll?channel=rebind&timeout=1', host)],
    ['poll /socket.io/', head('GET', '/socket.io/?EIO=4&transport=polling', host)],
    ['POST /push/emit', head('POST', '/push/emit', host) + body('{"event":"x","data":1}')],
    ['POST /api/registrations', head('POST', '/api/registrations', host) + body('{"name":"rebound"}')],
  ];
}

test('a rebinding Host is refused 403 on the upgrade, the stream, the poll and the POST; nothing is registered', async () => {
  const before = await (await fetch(`${s.base}/api/registrations`)).json() as { count: number };
  for (const [what, bytes] of exchanges(`evil.example:${s.port}`)) {
    const answer = await rawExchange(s.port, bytes, { timeout: 5000 });
    assert.equal(answer.status, 403, `${what}: ${answer.text.slice(0, 200)}`);
    assert.match(answer.json?.error, /Host "evil\.example:\d+" is not a name this server answers to/, what);
  }
  const after = await (await fetch(`${s.base}/api/registrations`)).json() as { count: number };
  assert.equal(after.count, before.count);
});

test('the loopback names pass on any port, their own origin with them', async () => {
  for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `LOCALHOST.:${s.port}`, '[::1]:1']) {
    for (const [what, bytes] of exchanges(host)) {
      if (what.startsWith('POST /api')) continue; // would take a place
      const answer = await firstStatus(s.port, bytes);
      assert.notEqual(answer.status, 403, `${what} with Host ${host}: ${answer.text.slice(0, 200)}`);
    }
  }
});

test('--allow-host adds names and domains; a page read is not checked', async () => {
  const answer = (host: string) => rawExchange(custom.port, head('GET', '/push/longpoll?channel=a&timeout=1', host), { timeout: 5000 });
  assert.equal((await answer('push.example')).status, 200);
  assert.equal((await answer('apps.example:8080')).status, 200);
  assert.equal((await answer('a.b.apps.example')).status, 200);
  assert.equal((await answer('evilapps.example')).status, 403);
  assert.equal((await answer('push.example.evil.example')).status, 403);
  const page = await rawExchange(s.port, head('GET', '/', `evil.example:${s.port}`), { timeout: 5000 });
  assert.equal(page.status, 200);
});

test('hostRefusal: names, ports, brackets, malformed values', () => {
  const policy = parseAllowedHosts('0.0.0.0', 'push.example');
  for (const host of ['localhost', 'localhost:1', '127.0.0.1:3000', '[::1]:3000', '0.0.0.0:3000', 'PUSH.example:80']) {
    assert.equal(hostRefusal(policy, host), null, host);
  }
  for (const host of ['evil.example', '127.0.0.2', '[::2]', 'localhost.evil.example', 'localhost, evil.example', '']) {
    assert.notEqual(hostRefusal(policy, host), null, host);
  }
  assert.equal(hostRefusal(parseAllowedHosts('127.0.0.1', '*'), 'anything.example'), null);
  assert.equal(hostRefusal(parseAllowedHosts('::', ''), '[::]:80'), null);
  assert.throws(() => parseAllowedHosts('127.0.0.1', 'http://a.example'), /not a host name/);
});
