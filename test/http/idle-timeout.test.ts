/**
 * The idle timeout (docs/PROTOCOL.md §6.1) against answers that are held
 * open on purpose: a long poll, an SSE stream, an Engine.IO polling GET.
 * The server's idle timeout is 300 ms, shorter than each of them waits.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { request, startServer, type RunningServer } from '../app/helpers.js';

let s: RunningServer;
before(async () => {
  s = await startServer({}, {
    idleTimeout: 300,
    push: { heartbeatInterval: 1000 },
    socketio: { pingInterval: 1000 },
  });
});
after(() => s.stop());

test('a long poll held past the idle timeout gets its normal 200 at its own timeout', async () => {
  const t0 = Date.now();
  const answer = await request(s.base, 'GET', '/push/longpoll?channel=idle-timeout&timeout=1000');
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.json, { messages: [], last: 0, gap: false });
  assert.ok(Date.now() - t0 >= 900, 'answered at its timeout, not earlier');
});

test('an SSE stream outlives the idle timeout: its heartbeat arrives', async () => {
  const text = await new Promise<string>((resolve, reject) => {
    const req = http.get(`${s.base}/push/sse?channel=idle-timeout`, { agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.includes(': heartbeat\n\n')) {
          req.destroy();
          resolve(body);
        }
      });
      res.on('close', () => reject(new Error(`stream closed before its heartbeat: ${JSON.stringify(body)}`)));
    });
    req.on('error', reject);
  });
  assert.match(text, /: heartbeat\n\n/);
});

test('an Engine.IO polling GET held past the idle timeout is answered with the ping', async () => {
  const open = await request(s.base, 'GET', '/socket.io/?EIO=4&transport=polling');
  assert.equal(open.status, 200);
  const { sid } = JSON.parse(open.text.slice(1)) as { sid: string };
  const held = await request(s.base, 'GET', `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`);
  assert.equal(held.status, 200);
  assert.equal(held.text, '2', 'the ping, at pingInterval');
});
