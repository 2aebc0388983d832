/**
 * Oversized input and clients that never read: bodies past their limit get
 * 413 before they are read whole, heads past Node's 16 KiB get 431, a
 * WebSocket message past --max-message closes with 1009 from its header, and
 * a client that pipelines requests without ever reading the answers stops
 * being read, so the server's memory for it stays bounded. A well-behaved
 * client is served throughout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { metric, openUpgrade, rawExchange, scrape, startServer, whileServing, type Server } from './helpers.js';

const MAX_MESSAGE = 64 * 1024;
const MiB = 1024 * 1024;

let s: Server;
before(async () => { s = await startServer(['--max-message', String(MAX_MESSAGE)]); });
after(() => s.stop());

/** Sends a POST announcing `declared` bytes and streams `sent` of them (or as chunks); resolves with the answer. */
function bigPost(path: string, declared: number | 'chunked', sent: number): Promise<{ status: number | null; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(s.port, '127.0.0.1');
    const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      (declared === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${declared}\r\n`) + '\r\n';
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      text += c;
      // The answer is in: stop sending (the server need not read the rest).
      if (/\r\n\r\n\{.*\}$/s.test(text)) socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]) || null, text }));
    socket.on('connect', async () => {
      socket.write(head);
      const piece = Buffer.alloc(16 * 1024, 0x20);
      for (let written = 0; written < sent && !socket.destroyed; written += piece.length) {
        const chunk = declared === 'chunked' ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      }
    });
    setTimeout(() => { socket.destroy(); reject(new Error(`${path}: no answer`)); }, 15_000).unref();
  });
}

test('bodies past their limit get 413 early, whether announced or chunked, many at once', async (t) => {
  const rssBefore = metric(await scrape(s.base), 'process_resident_memory_bytes');
  const answers = await whileServing(t, s.base, '60 oversized uploads', () => Promise.all(Array.from({ length: 60 }, (_, i) => {
    const path = i % 2 ? '/push/emit' : '/api/registrations';
    // Announced as 100 MiB: refused from the header. Chunked: refused once 64 KiB + 1 arrived.
    return i % 3 === 0 ? bigPost(path, 100 * MiB, 64 * 1024) : bigPost(path, 'chunked', 4 * MiB);
  })));
  for (const a of answers) {
    assert.equal(a.status, 413, a.text.slice(0, 100));
    assert.match(a.text, /"error":"request body over 65536 bytes"/);
  }
  const rssAfter = metric(await scrape(s.base), 'process_resident_memory_bytes');
  t.diagnostic(`server RSS ${(rssBefore / MiB).toFixed(0)} MiB before, ${(rssAfter / MiB).toFixed(0)} MiB after 60 uploads of up to 100 MiB`);
  assert.ok(rssAfter - rssBefore < 32 * MiB, `RSS grew by ${((rssAfter - rssBefore) / MiB).toFixed(1)} MiB`);
});

/**
 * Streams a body of `total` bytes (announced, or chunked) as fast as the server takes it, without
 * stopping at the answer; resolves with the answer, whether the server ended its side after it (FIN),
 * and how many bytes the kernel had taken when the connection ended.
 */
function relentlessPost(path: string, headers: string, chunked: boolean, total: number): Promise<{ status: number | null; text: string; fin: boolean; written: number; ms: number }> {
  return new Promise((resolve) => {
    const socket = net.connect(s.port, '127.0.0.1');
    let text = '';
    let fin = false;
    let written = 0;
    let answeredAt = 0;
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      text += c;
      if (!answeredAt && text.includes('\r\n\r\n')) answeredAt = Date.now();
    });
    socket.on('end', () => { fin = true; });
    socket.on('error', () => {});
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]) || null, text, fin, written, ms: answeredAt ? Date.now() - answeredAt : -1 }));
    socket.on('connect', async () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headers}` +
        (chunked ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${total}\r\n`) + '\r\n');
      const piece = Buffer.alloc(64 * 1024, 0x20);
      const chunk = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
      while (written < total && !socket.destroyed) {
        written += chunk.length;
        if (!socket.write(chunk)) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); });
      }
      // Everything sent (only a server that read it all gets here): leave.
      socket.end();
    });
  });
}

test('a refused upload is not read: the answer with Connection: close, a FIN, and the connection dropped soon after', async (t) => {
  const total = 256 * MiB;
  // An Engine.IO session, for its POST (limit: maxHttpBufferSize, 1 MB).
  const open = await rawExchange(s.port, 'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  const sid = /"sid":"([^"]+)"/.exec(open.text)?.[1];
  assert.ok(sid, open.text);
  const error = /\r\n\r\n\{"error":"[^"]+"\}$/;
  const cases = [
    { what: '413, announced', path: '/api/registrations', headers: '', chunked: false, status: 413, body: error },
    { what: '413, chunked', path: '/push/emit', headers: '', chunked: true, status: 413, body: error },
    // Refused before its body is read at all: a cross-site POST.
    { what: '403 for its Origin', path: '/push/emit', headers: 'Origin: https://evil.example\r\n', chunked: true, status: 403, body: error },
    { what: 'Engine.IO 413, chunked', path: `/socket.io/?EIO=4&transport=polling&sid=${sid}`, headers: '', chunked: true, status: 413, body: /\r\n\r\n\{"code":3,"message":"Payload too large"\}$/ },
  ];
  for (const c of cases) {
    const a = await relentlessPost(c.path, c.headers, c.chunked, total);
    t.diagnostic(`${c.what}: ${(a.written / MiB).toFixed(1)} MiB taken by the kernels before the connection ended ${a.ms} ms after the answer`);
    assert.equal(a.status, c.status, a.text.slice(0, 100));
    assert.match(a.text, c.body);
    assert.match(a.text, /\r\nConnection: close\r\n/, `${c.what}: the answer says the connection closes`);
    assert.ok(a.fin, `${c.what}: the server ends its side after the answer`);
    // The socket buffers on both sides hold a few MiB; a server that read on would take all 256.
    assert.ok(a.written < 64 * MiB, `${c.what}: ${(a.written / MiB).toFixed(1)} MiB were taken`);
  }
});

test('a request head past 16 KiB gets a JSON 431, in the headers or in the request line', async () => {
  const cases = [
    `GET /api/registrations HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    `GET /api/registrations HTTP/1.1\r\nHost: 127.0.0.1\r\n${Array.from({ length: 1500 }, (_, i) => `X-Header-${i}: ${'v'.repeat(10)}`).join('\r\n')}\r\n\r\n`,
    `GET /push/poll?channel=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
  ];
  for (const request of cases) {
    const answer = await rawExchange(s.port, request);
    assert.equal(answer.status, 431, answer.text.slice(0, 80));
    assert.equal(answer.json.error, 'request headers too large');
  }
});

test('a WebSocket message past --max-message closes with 1009 from its header, on both endpoints', async (t) => {
  await whileServing(t, s.base, 'oversized WebSocket frames', async () => {
    for (const path of ['/echo', '/push/ws?channel=big']) {
      for (const declared of [MAX_MESSAGE + 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
        const { socket, closed } = await openUpgrade(s.port, path);
        let bytes = Buffer.alloc(0);
        socket.removeAllListeners('data');
        socket.on('data', (c: string) => { bytes = Buffer.concat([bytes, Buffer.from(c, 'latin1')]); }); // latin1 text: one char per byte
        // A binary frame header announcing the size (64-bit length), masked, and no payload.
        const header = Buffer.alloc(14);
        header[0] = 0x82;
        header[1] = 0x80 | 127;
        header.writeBigUInt64BE(BigInt(declared), 2);
        socket.write(header);
        await closed;
        const close = bytes.indexOf(0x88);
        assert.ok(close !== -1, `${path}: a close frame`);
        assert.equal(bytes.readUInt16BE(close + 2), 1009, `${path} ${declared}`);
      }
    }
  });
});

test('a client that pipelines requests and never reads is not read any further; the server stays small', async (t) => {
  const rssBefore = metric(await scrape(s.base), 'process_resident_memory_bytes');
  const stalled = await whileServing(t, s.base, 'a client that never reads', () => new Promise<number>((resolve) => {
    const socket = net.connect(s.port, '127.0.0.1');
    socket.pause(); // never read
    const request = Buffer.from('GET /push.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(256));
    let written = 0;
    socket.on('error', () => {});
    const pump = () => {
      // Until the server stops taking requests: our writes back up and no 'drain' comes for a second.
      while (socket.write(request)) written += request.length;
      written += request.length;
      const stall = setTimeout(() => { socket.destroy(); resolve(written); }, 1000);
      socket.once('drain', () => { clearTimeout(stall); pump(); });
    };
    socket.on('connect', pump);
  }));
  const rssAfter = metric(await scrape(s.base), 'process_resident_memory_bytes');
  t.diagnostic(`the server stopped reading after ${(stalled / MiB).toFixed(1)} MiB of requests; RSS ${(rssBefore / MiB).toFixed(0)} -> ${(rssAfter / MiB).toFixed(0)} MiB`);
  assert.ok(stalled < 64 * MiB, 'the server stopped reading');
  assert.ok(rssAfter - rssBefore < 64 * MiB, `RSS grew by ${((rssAfter - rssBefore) / MiB).toFixed(1)} MiB`);
});
