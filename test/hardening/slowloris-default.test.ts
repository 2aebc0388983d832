/**
 * The contract's figure with the default settings, in real time: a connection
 * without a complete request head is closed within 30 s. About 31 s of wall
 * time, spent waiting (it runs beside other test files).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { parseAnswer, startServer, type RawAnswer, type Server } from './helpers.js';

let s: Server;
before(async () => { s = await startServer(); });
after(() => s.stop());

function slow(port: number, dribble: boolean): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let timer: NodeJS.Timeout | null = null;
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      if (!dribble) return;
      socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      let n = 0;
      timer = setInterval(() => socket.write(`X-Pad-${n++}: y\r\n`), 1000);
    });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => { text += c; });
    socket.on('error', reject);
    socket.on('close', () => {
      if (timer) clearInterval(timer);
      resolve(parseAnswer(text, Date.now() - started));
    });
  });
}

test('with the defaults, a silent connection and one dribbling its head are closed within 30 s (408)', { timeout: 45_000 }, async (t) => {
  const [silent, dribbling] = await Promise.all([slow(s.port, false), slow(s.port, true)]);
  for (const [name, r] of [['silent', silent], ['dribbling', dribbling]] as const) {
    t.diagnostic(`${name}: closed after ${r.closedAfter} ms`);
    assert.equal(r.status, 408, name);
    assert.ok(r.closedAfter >= 29_900 && r.closedAfter <= 30_000 + 1000, `${name}: closed after ${r.closedAfter} ms`);
  }
});
