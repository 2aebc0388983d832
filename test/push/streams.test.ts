import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import vm from 'node:vm';
import type { Socket } from 'node:net';
import { openStream, sleep, startServer, until, type Msg, type TestServer } from './helpers.js';

let t: TestServer;
/** Small bounds: iframes end after 4 KiB or 600 ms. */
let bounded: TestServer;
/** Slow readers are cut off past 256 KiB queued. */
let slow: TestServer;
before(async () => {
  t = await startServer({ heartbeatInterval: 150 });
  bounded = await startServer({ heartbeatInterval: 100, iframeMaxBytes: 4096, iframeMaxAge: 600 });
  slow = await startServer({ maxQueuedBytes: 256 * 1024, iframeMaxBytes: 256 * 1024 * 1024 });
});
after(() => Promise.all([t.stop(), bounded.stop(), slow.stop()]));

test('SSE: head and a first comment at once, streaming headers, then id/event/data per message', async () => {
  const { push } = t.server;
  const ch = 'sse-basic';
  push.publish(ch, 'count', { count: 1 });
  const sse = openStream(t.base, 'sse', ch, 0);
  const res = await sse.response;
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/event-stream');
  assert.equal(res.headers['cache-control'], 'no-cache, no-transform');
  assert.equal(res.headers['x-accel-buffering'], 'no');
  await sse.inbox.waitFor(1);
  assert.match(sse.raw(), /^: [^\n]*\nretry: \d+\n\n/);
  push.publish(ch, 'count', { count: 2 });
  push.publish(ch, 'note', 'line\nbreak \u2028');
  const got = await sse.inbox.waitFor(3);
  assert.deepEqual(got, [
    { id: 1, event: 'count', data: { count: 1 } },
    { id: 2, event: 'count', data: { count: 2 } },
    { id: 3, event: 'note', data: 'line\nbreak \u2028' },
  ]);
  assert.ok(sse.raw().includes('id: 2\nevent: count\ndata: {"count":2}\n\n'));
  sse.close();
});

test('SSE: Last-Event-ID wins over since', async () => {
  const { push } = t.server;
  const ch = 'sse-last-id';
  for (let i = 1; i <= 5; i++) push.publish(ch, 'tick', i);
  const sse = openStream(t.base, 'sse', ch, 0, { headers: { 'Last-Event-ID': '3' } });
  await sse.inbox.waitFor(2);
  push.publish(ch, 'sentinel', null); // anything extra before it would be a duplicate
  assert.deepEqual((await sse.inbox.waitForId(6)).map((m) => m.id), [4, 5, 6]);
  sse.close();
});

test('SSE: a gap is a first push:gap message with the last id, then the stream goes on after it', async () => {
  const { push } = t.server;
  const ch = 'sse-gap';
  push.publish(ch, 'tick', 1);
  const sse = openStream(t.base, 'sse', ch, 50);
  await sse.inbox.waitFor(1);
  push.publish(ch, 'tick', 2);
  const got = await sse.inbox.waitFor(2);
  assert.deepEqual(got, [{ id: 1, event: 'push:gap', data: null }, { id: 2, event: 'tick', data: 2 }]);
  assert.ok(sse.raw().includes('id: 1\nevent: push:gap\ndata: null\n\n'));
  sse.close();
});

test('iframe: since, backlog order and a gap as the first script', async () => {
  const { push } = t.server;
  const ch = 'iframe-since';
  for (let i = 1; i <= 4; i++) push.publish(ch, 'tick', i);
  const behind = openStream(t.base, 'iframe', ch, 2);
  const ahead = openStream(t.base, 'iframe', ch, 40);
  await Promise.all([behind.inbox.waitFor(2), ahead.inbox.waitFor(1)]);
  push.publish(ch, 'tick', 5);
  assert.deepEqual((await behind.inbox.waitFor(3)).map((m) => m.id), [3, 4, 5]);
  assert.deepEqual(await ahead.inbox.waitFor(2), [{ id: 4, event: 'push:gap', data: null }, { id: 5, event: 'tick', data: 5 }]);
  behind.close();
  ahead.close();
});

test('SSE and iframe: heartbeats while nothing is published', async () => {
  const sse = openStream(t.base, 'sse', 'quiet', null);
  const iframe = openStream(t.base, 'iframe', 'quiet', null);
  await until(() => sse.raw().includes(': heartbeat\n') && iframe.raw().includes('<!-- -->'), 2000, 'heartbeats');
  sse.close();
  iframe.close();
});

/** The prelude's one script (the guard), and the message scripts after it. */
function iframeScripts(html: string): { guard: string; messages: string[] } {
  const bodies = [...html.matchAll(/<script>([\s\S]*?)<\/script>/gi)].map((m) => m[1]!);
  assert.match(bodies[0] ?? '', /^function _\(\)\{/, 'the prelude defines the guard first');
  return { guard: bodies[0]!, messages: bodies.slice(1) };
}

test('iframe: chunked HTML with a 1 KiB prelude, frame-ancestors \'self\', one guarded script per message', async () => {
  const { push } = t.server;
  const ch = 'iframe-basic';
  const iframe = openStream(t.base, 'iframe', ch, null, { callback: 'top_.pw.$deliver' });
  const res = await iframe.response;
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(res.headers['transfer-encoding'], 'chunked');
  assert.equal(res.headers['cache-control'], 'no-cache, no-transform');
  assert.equal(res.headers['x-accel-buffering'], 'no');
  assert.equal(res.headers['content-security-policy'], "frame-ancestors 'self'");
  assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
  await until(() => Buffer.byteLength(iframe.raw()) >= 1024, 2000, 'a prelude of 1 KiB');
  assert.equal(Buffer.byteLength(iframe.raw()), 1032);
  assert.equal((iframe.raw().match(/<script/g) ?? []).length, 1, 'nothing but the prelude (and its guard) before the first publish');
  push.publish(ch, 'count', { count: 7 });
  assert.deepEqual(await iframe.inbox.waitFor(1), [{ id: 1, event: 'count', data: { count: 7 } }]);
  assert.ok(iframe.raw().endsWith('<script>_()&&parent.top_.pw.$deliver({"id":1,"event":"count","data":{"count":7}})</script>\n'));
  iframe.close();
});

test('iframe: HEAD answers the same frame headers', async () => {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.request(`${t.base}/push/iframe?channel=iframe-head&callback=f`, { method: 'HEAD' }, resolve).on('error', reject).end();
  });
  res.resume();
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-security-policy'], "frame-ancestors 'self'");
  assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
});

test('iframe: data holding </script>, <!--, U+2028 and U+2029 round-trips and cannot break out', async () => {
  const { push } = t.server;
  const ch = 'iframe-escape';
  const nasty = [
    '</script><script>parent.pwned=1</script>',
    '<!--<script>',
    'a\u2028b\u2029c',
    { '</SCRIPT>': '<\/script >', nested: ['<!--', '-->', '\u2028\u2029'] },
    '\u0000"\\\'`${}<>&',
  ];
  const iframe = openStream(t.base, 'iframe', ch, 0, { callback: 'pw.deliver' });
  await iframe.ready;
  for (const data of nasty) push.publish(ch, 'x', data);
  const got = await iframe.inbox.waitFor(nasty.length);
  assert.deepEqual(got.map((m) => m.data), nasty);

  // The raw HTML: the guard, then exactly one script element per message, none of the dangerous sequences inside.
  const html = iframe.raw();
  const { guard, messages: scripts } = iframeScripts(html);
  assert.equal(scripts.length, nasty.length);
  assert.equal((html.match(/<script/gi) ?? []).length, 1 + nasty.length);
  for (const body of scripts) {
    assert.ok(!/<!--|<\/script|<script|\u2028|\u2029/i.test(body), body);
  }
  // Run the guard and each script body as a browser would, in a frame whose parent is of
  // its origin: each calls parent.pw.deliver with the message, and nothing else.
  const delivered: Msg[] = [];
  const parent = { pw: { deliver: (m: Msg) => delivered.push(m) }, location: { origin: 'http://127.0.0.1:1' } };
  const sandbox = vm.createContext({ parent, location: { origin: 'http://127.0.0.1:1' } });
  vm.runInContext('self = this', sandbox);
  vm.runInContext(guard, sandbox);
  for (const body of scripts) vm.runInContext(body, sandbox);
  // (Through JSON: the sandbox's objects belong to another realm.)
  assert.deepEqual(JSON.parse(JSON.stringify(delivered.map((m) => m.data))), nasty);
  assert.equal((parent as Record<string, unknown>).pwned, undefined);
  iframe.close();
});

test('iframe: the scripts call nothing outside a frame whose parent is of their own origin', async () => {
  const { push } = t.server;
  const ch = 'iframe-guard';
  push.publish(ch, 'x', 1);
  const iframe = openStream(t.base, 'iframe', ch, 0, { callback: 'pw.deliver' });
  await iframe.inbox.waitFor(1);
  const { guard, messages } = iframeScripts(iframe.raw());
  assert.equal(messages.length, 1);
  const origin = 'http://127.0.0.1:1';
  /** Runs the stream's scripts in a window whose `parent` is `parent` (or, for 'self', the window itself); how many calls reached it. */
  const run = (parent: object | 'self'): number => {
    let calls = 0;
    const sandbox = vm.createContext({ location: { origin }, deliver: () => calls++ });
    vm.runInContext('self = this', sandbox);
    if (parent === 'self') vm.runInContext('parent = self', sandbox);
    else sandbox.parent = parent;
    vm.runInContext('parent.pw = { deliver }', sandbox);
    vm.runInContext(guard, sandbox);
    for (const body of messages) vm.runInContext(body, sandbox);
    return calls;
  };
  // Framed by a page of its origin: delivered.
  assert.equal(run({ location: { origin } }), 1);
  // A popup or a top-level tab: `parent` is the window itself (whose opener may be of the origin).
  assert.equal(run('self'), 0);
  // Framed by a page of another origin, whose location reads throw.
  assert.equal(run({ get location(): never { throw new Error('SecurityError: cross-origin'); } }), 0);
  assert.equal(run({ location: { origin: 'https://evil.example' } }), 0);
  iframe.close();
});

test('iframe: the server ends the document after its byte bound, with </body></html> and the final chunk', async () => {
  const { push } = bounded.server;
  const ch = 'iframe-bytes';
  const iframe = openStream(bounded.base, 'iframe', ch, null);
  await iframe.ready;
  let published = 0;
  while (!iframe.raw().endsWith('</html>\n') && published < 100) {
    push.publish(ch, 'blob', 'x'.repeat(500));
    published++;
    await sleep(5);
  }
  await iframe.ended;
  assert.ok(iframe.raw().endsWith('</body></html>\n'));
  const bytes = Buffer.byteLength(iframe.raw());
  assert.ok(bytes > 4096 && bytes < 4096 + 2048, `ended after ${bytes} bytes`);
  // Everything it wrote is whole: the client resumes from the last id it got.
  assert.deepEqual(iframe.inbox.ids, Array.from({ length: iframe.inbox.messages.length }, (_, i) => i + 1));
  await until(() => bounded.server.push.stats().streams === 0, 1000, 'the stream to be released');
});

test('iframe: the server ends the document after its time bound', async () => {
  const started = Date.now();
  const iframe = openStream(bounded.base, 'iframe', 'iframe-age', null);
  await iframe.ended;
  const took = Date.now() - started;
  assert.ok(took >= 550 && took < 2000, `ended after ${took} ms`);
  assert.ok(iframe.raw().endsWith('</body></html>\n'));
});

test('a client disconnect frees its stream and subscription at once', async () => {
  const own = await startServer(); // its own server: counts from zero whatever other tests left
  const { push } = own.server;
  const sse = openStream(own.base, 'sse', 'free-me', null);
  const iframe = openStream(own.base, 'iframe', 'free-me', null);
  await Promise.all([sse.ready, iframe.ready]);
  await until(() => push.stats().streams === 2, 2000, 'two streams');
  assert.equal(push.stats().subscriptions, 2);
  sse.close();
  iframe.close();
  await until(() => push.stats().streams === 0 && push.stats().subscriptions === 0, 2000, 'streams released');
  await own.stop();
});

for (const kind of ['sse', 'iframe'] as const) {
  test(`slow consumer (${kind}): a reader that never reads is cut off and server memory stays bounded`, async (tc) => {
    const { push, http: server } = slow.server;
    const ch = `slow-${kind}`;
    const serverSockets: Socket[] = [];
    const onConnection = (s: Socket) => serverSockets.push(s);
    server.on('connection', onConnection);
    const reader = net.connect(slow.port, '127.0.0.1');
    reader.on('error', () => {});
    await new Promise((resolve) => reader.once('connect', resolve));
    reader.write(`GET /push/${kind}?channel=${ch}&callback=f HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    reader.pause(); // never reads: the kernel buffers fill, then the server's
    await until(() => push.stats().streams === 1, 2000, 'the stream to open');
    const payload = 'y'.repeat(64 * 1024);
    let maxQueued = 0;
    let published = 0;
    // Up to 64 MiB offered; loopback kernel buffers take a few MiB before user space queues anything.
    while (push.stats().streams > 0 && published < 1024) {
      push.publish(ch, 'blob', payload);
      published++;
      // One message per turn of the event loop: a steady stream, not one burst.
      await new Promise((resolve) => setImmediate(resolve));
      for (const s of serverSockets) maxQueued = Math.max(maxQueued, s.writableLength);
    }
    tc.diagnostic(`cut off after ${published} messages of 64 KiB; most queued in user space: ${maxQueued} bytes`);
    assert.equal(push.stats().streams, 0, `still streaming after ${published} messages of 64 KiB`);
    assert.equal(push.stats().subscriptions, 0);
    assert.match(slow.server.metrics.render(), new RegExp(`^pushwire_slow_consumers_total\\{technique="${kind}"\\} 1$`, 'm'));
    // Never more than the bound plus the one message that crossed it.
    assert.ok(maxQueued <= 256 * 1024 + 70 * 1024, `queued ${maxQueued} bytes`);
    await until(() => serverSockets.every((s) => s.destroyed), 2000, 'the connection to be dropped');
    server.off('connection', onConnection);
    reader.destroy();
  });
}

test('a fast reader is not cut off by a burst bigger than the bound published in one turn', async () => {
  const { push } = slow.server;
  const ch = 'burst';
  const sse = openStream(slow.base, 'sse', ch, null);
  const iframe = openStream(slow.base, 'iframe', ch, null);
  await Promise.all([sse.ready, iframe.ready]);
  await until(() => push.stats().streams === 2, 2000, 'two streams');
  const payload = 'b'.repeat(16 * 1024);
  for (let i = 0; i < 64; i++) push.publish(ch, 'blob', payload); // 1 MiB in one go; the bound is 256 KiB
  await Promise.all([sse.inbox.waitFor(64), iframe.inbox.waitFor(64)]);
  assert.equal(push.stats().streams, 2);
  sse.close();
  iframe.close();
});
