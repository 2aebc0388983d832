/**
 * Slowloris: clients that open connections and never finish a request head
 * (silent ones, ones that dribble a header line now and then, and kept-alive
 * ones that do it on their second request) are answered 408 and closed at the
 * configured deadline, not later; a slow but complete head within it is served.
 * A well-behaved client is served throughout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { metric, parseAnswer, scrape, scrapeUntil, startServer, whileServing, type RawAnswer, type Server } from './helpers.js';

const HEADERS_TIMEOUT = 800;
const EACH = 40;

let s: Server;
before(async () => { s = await startServer(['--headers-timeout', String(HEADERS_TIMEOUT)]); });
after(() => s.stop());

type Kind = 'silent' | 'dribbling' | 'second head' | 'slow but complete';

/** One slow client; resolves on close with what it got and how long after its deadline started. */
function slowClient(port: number, kind: Kind): Promise<RawAnswer & { kind: Kind }> {
  return new Promise((resolve, reject) => {
    // Started before the connect, so the server's accept (where its deadline starts) comes after it.
    let clockStart = Date.now();
    let text = '';
    let dribble: NodeJS.Timeout | null = null;
    const startDribbling = (first: string, lines: number | null) => {
      socket.write(first);
      let n = 0;
      dribble = setInterval(() => {
        if (lines !== null && n === lines) {
          socket.write('\r\n');
          clearInterval(dribble!);
          return;
        }
        if (socket.writable) socket.write(`X-Pad-${n++}: y\r\n`);
      }, 100);
    };
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => {
      if (kind === 'dribbling') startDribbling('GET /api/registrations HTTP/1.1\r\nHost: 127.0.0.1\r\n', null);
      else if (kind === 'slow but complete') startDribbling('GET /api/registrations HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n', 4);
      else if (kind === 'second head') socket.write('GET /api/registrations HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      // The first answer is complete: the deadline for the second head starts now.
      if (kind === 'second head' && dribble === null && /\r\n\r\n\{[^}]*\}$/.test(text)) {
        clockStart = Date.now();
        startDribbling('GET /api/registrations HTTP/1.1\r\n', null);
      }
    });
    // A pad written just as the server closes at its deadline meets EPIPE or a reset: that close is the
    // outcome under test, and 'close' follows with what was received.
    socket.on('error', (err: NodeJS.ErrnoException) => { if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err); });
    socket.on('close', () => {
      if (dribble) clearInterval(dribble);
      const closedAfter = Date.now() - clockStart;
      // For the second head, the answer that matters is the last one.
      const last = kind === 'second head' ? text.slice(text.lastIndexOf('HTTP/1.1 ')) : text;
      resolve({ ...parseAnswer(last, closedAfter), kind });
    });
  });
}

test(`slow request heads are answered 408 and closed at the deadline (${HEADERS_TIMEOUT} ms), slow complete ones served`, async (t) => {
  const before = await scrape(s.base);
  const results = await whileServing(t, s.base, `${EACH * 3} slowloris connections`, () => Promise.all([
    ...Array.from({ length: EACH }, () => slowClient(s.port, 'silent')),
    ...Array.from({ length: EACH }, () => slowClient(s.port, 'dribbling')),
    ...Array.from({ length: EACH }, () => slowClient(s.port, 'second head')),
    ...Array.from({ length: 10 }, () => slowClient(s.port, 'slow but complete')),
  ]));
  const byKind = new Map<Kind, number[]>();
  for (const r of results) {
    if (r.kind === 'slow but complete') {
      assert.equal(r.status, 200, `a head complete in ~400 ms is served: ${r.text.slice(0, 60)}`);
      continue;
    }
    assert.equal(r.status, 408, `${r.kind}: ${JSON.stringify(r.text.slice(0, 80))}`);
    assert.match(r.json.error, /request head/);
    // Not before the deadline; after it only by timer and scheduling delay (Node's own check, every 5 s,
    // would add up to 5 s).
    // (The second head's deadline starts as the server ends its first answer, a moment before the client sees it.)
    assert.ok(r.closedAfter >= HEADERS_TIMEOUT - (r.kind === 'second head' ? 50 : 2), `${r.kind} closed after ${r.closedAfter} ms: too early`);
    assert.ok(r.closedAfter <= HEADERS_TIMEOUT + 1500, `${r.kind} closed after ${r.closedAfter} ms: too late`);
    byKind.set(r.kind, [...(byKind.get(r.kind) ?? []), r.closedAfter]);
  }
  for (const [kind, times] of byKind) {
    t.diagnostic(`${kind}: ${times.length} closed after ${Math.min(...times)}..${Math.max(...times)} ms (deadline ${HEADERS_TIMEOUT} ms)`);
  }
  // The slow connections are gone, and the well-behaved client's (only the scrape's own remains).
  const after = await scrapeUntil(s.base, (text) => metric(text, 'pushwire_connections_open') === 1, 'every connection closed');
  const timeouts = 'pushwire_timeouts_total{kind="headers"}';
  assert.equal(metric(after, timeouts) - metric(before, timeouts), EACH * 3, 'each slow head counted once');
});
