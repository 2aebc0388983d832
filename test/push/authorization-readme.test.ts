/**
 * The README's private channel, run as it stands: the block after
 * `<!-- example: private channels -->` is written to a module (its import of
 * 'pushwire' pointed at this build) and its `authorize` given to a server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PushAuthorizer } from '../../src/push/index.js';
import { connect } from '../../src/websocket/client.js';
import { request, startServer, tempDir, type TestServer } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');

interface Example { channelToken(channel: string, expires: number | string): string; authorize: PushAuthorizer }

async function loadExample(): Promise<Example> {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = /<!-- example: private channels -->\n```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'the README has the example');
  const library = pathToFileURL(path.resolve(here, '../../src/index.js')).href;
  const code = m[1]!.replace("from 'pushwire'", `from ${JSON.stringify(library)}`);
  const file = path.join(tempDir(), 'private-channels.mjs');
  fs.writeFileSync(file, code);
  return import(pathToFileURL(file).href) as Promise<Example>;
}

let s: TestServer;
let example: Example;
before(async () => {
  example = await loadExample();
  s = await startServer({ authorize: example.authorize });
  await s.server.push.publish('private:alice', 'note', 'for alice only');
});
after(() => s.stop());

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

test('README: a private channel needs a valid, unexpired token for that channel', async () => {
  const token = example.channelToken('private:alice', inAnHour());
  const poll = (query: string) => request(`${s.base}/push/poll?${query}`);

  const allowed = await poll(`channel=private:alice&since=0&token=${token}`);
  assert.equal(allowed.status, 200);
  assert.deepEqual(allowed.json.messages.map((m: { data: unknown }) => m.data), ['for alice only']);

  const refusals = [
    'channel=private:alice&since=0',
    `channel=private:alice&since=0&token=${example.channelToken('private:bob', inAnHour())}`,
    `channel=private:alice&since=0&token=${example.channelToken('private:alice', Math.floor(Date.now() / 1000) - 1)}`,
    `channel=private:alice&since=0&token=${token.slice(0, -2)}xx`,
    `channel=private:alice&since=0&token=${inAnHour() + 1}${token.slice(token.indexOf('.'))}`,
    'channel=private:alice&since=0&token=garbage',
  ];
  for (const query of refusals) {
    const answer = await poll(query);
    assert.equal(answer.status, 403, query);
    assert.match(answer.json.error, /private:alice needs a valid token/);
    assert.doesNotMatch(answer.body, /for alice only/);
  }
  // Public channels need nothing.
  assert.equal((await poll('channel=news&since=0')).status, 200);
});

test('README: the token given at connect time admits an in-band push:subscribe; without it, close 1008', async () => {
  const token = example.channelToken('private:alice', inAnHour());
  for (const [query, expected] of [[`token=${token}`, 'message'], ['', 1008]] as const) {
    const ws = connect(`ws://127.0.0.1:${s.port}/push/ws?${query}`);
    const outcome = await new Promise<unknown>((resolve) => {
      ws.on('open', () => ws.send(JSON.stringify({ event: 'push:subscribe', data: { channel: 'private:alice', since: 0 } })));
      ws.on('message', (data: Buffer) => resolve(`message ${JSON.parse(data.toString()).data}`));
      ws.on('close', (code: number) => resolve(code));
      ws.on('error', () => {});
    });
    if (expected === 'message') assert.equal(outcome, 'message for alice only');
    else assert.equal(outcome, 1008);
    ws.terminate();
  }
});

test('README: chat needs a session cookie', async () => {
  const body = JSON.stringify({ event: 'chat message', data: 'hi' });
  assert.equal((await request(`${s.base}/push/emit`, { method: 'POST', body })).status, 403);
  assert.equal((await request(`${s.base}/push/emit`, { method: 'POST', body, headers: { Cookie: 'session=abc' } })).status, 202);
});
