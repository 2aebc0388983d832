import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openStream, openWs, request, startServer, tempDir, until } from './helpers.js';

test('ids continue above every earlier id after a restart on the same data dir', async () => {
  const dir = tempDir();
  const a = await startServer({ idBlockSize: 4 }, dir);
  assert.equal(await a.server.push.last('x'), 0, 'a fresh data dir starts at 1');
  for (let i = 1; i <= 10; i++) assert.equal((await a.server.push.publish('x', 'n', i)).id, i);
  await a.stop();
  assert.ok(fs.existsSync(path.join(dir, 'channel-ids.json')));
  assert.ok(!fs.existsSync(path.join(dir, 'channel-ids.json.tmp')));

  const b = await startServer({ idBlockSize: 4 }, dir);
  const lastB = await b.server.push.last('x');
  assert.ok(lastB >= 10, `last after restart is ${lastB}`);
  // A client of the old run: its since is below the new run's window, so it is told to reload.
  let r = await request(`${b.base}/push/poll?channel=x&since=10`);
  assert.equal(r.json.gap, lastB > 10);
  r = await request(`${b.base}/push/poll?channel=x&since=3`);
  assert.deepEqual(r.json, { messages: [], last: lastB, gap: true });
  const first = (await b.server.push.publish('x', 'n', 'new run')).id;
  assert.equal(first, lastB + 1);
  assert.equal((await b.server.push.publish('y', 'n', 1)).id, 1, 'another channel starts at 1');
  // The new message is read back whole by a client that had the new run's last id.
  r = await request(`${b.base}/push/poll?channel=x&since=${lastB}`);
  assert.deepEqual(r.json, { messages: [{ id: first, event: 'n', data: 'new run' }], last: first, gap: false });
  await b.stop();

  const c = await startServer({ idBlockSize: 4 }, dir);
  assert.ok((await c.server.push.last('x')) >= first);
  assert.ok((await c.server.push.publish('x', 'n', 0)).id > first);
  assert.ok((await c.server.push.publish('y', 'n', 0)).id > 1);
  await c.stop();
});

test('shutdown: WebSockets closed 1001, streams ended with their final chunk, held long polls answered []', async () => {
  const t = await startServer({ heartbeatInterval: 20_000 });
  const { push } = t.server;
  push.publish('bye', 'n', 1);
  const ws = openWs(t.base, 'bye', null);
  const sse = openStream(t.base, 'sse', 'bye', null);
  const iframe = openStream(t.base, 'iframe', 'bye', null);
  await Promise.all([ws.ready, sse.ready, iframe.ready]);
  const poll = request(`${t.base}/push/longpoll?channel=bye&timeout=60000`);
  await until(() => push.stats().subscriptions === 4, 2000, 'four subscriptions');
  let sseComplete = false;
  let iframeComplete = false;
  (await sse.response).on('end', () => { sseComplete = true; });
  (await iframe.response).on('end', () => { iframeComplete = true; });

  const started = Date.now();
  await t.stop();
  assert.ok(Date.now() - started < 5000);
  const answer = await poll;
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.json, { messages: [], last: 1, gap: false });
  assert.equal((await ws.closed).code, 1001);
  await Promise.all([sse.ended, iframe.ended]);
  assert.ok(sseComplete, 'the SSE response ended with its final chunk');
  assert.ok(iframeComplete, 'the iframe response ended with its final chunk');
  assert.ok(iframe.raw().endsWith('</body></html>\n'));
  assert.equal(push.stats().subscriptions, 0);
});
