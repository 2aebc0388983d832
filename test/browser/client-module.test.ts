import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { ROOT, startServer, type RunningServer } from '../app/helpers.js';
import { launchChromium, skip } from './chromium.js';

/** The browser client as an ES module with types: `import { subscribe } from 'pushwire/client'`. */

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** Type-checks `source` as a module of a bundler-built app inside this package (so 'pushwire/client' resolves to itself). */
function typecheck(name: string, source: string): Promise<{ code: number; output: string }> {
  const dir = path.join(ROOT, 'build', 'typecheck', name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'app.mts'), source);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'ESNext', moduleResolution: 'bundler', target: 'ES2022', lib: ['ES2022', 'DOM'], strict: true, noEmit: true, types: [] },
    files: ['app.mts'],
  }));
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: stdout + stderr });
    });
  });
}

test('package.json exports ./client: the module and its types, both built', () => {
  const entry = pkg.exports['./client'];
  assert.deepEqual(Object.keys(entry), ['types', 'default']);
  for (const file of Object.values(entry) as string[]) assert.ok(fs.existsSync(path.join(ROOT, file)), `${file} is built`);
});

test("a bundler app's TypeScript sees the client's types through 'pushwire/client'", { timeout: 60_000 }, async () => {
  const good = await typecheck('good', `
import { subscribe, emit, TRANSPORTS, type Message, type Stats, type SubscribeOptions } from 'pushwire/client';
const options: SubscribeOptions = { transport: ['sse', 'longpoll'], since: 3, share: false, events: ['count'] };
const sub = subscribe('registrations', (m: Message) => console.log(m.channel, m.id, m.event, m.data), options);
const stats: Stats = sub.stats;
const role: 'alone' | 'leader' | 'follower' = stats.role;
const done: Promise<void> = emit('chat message', 'hi');
const first: 'websocket' | 'sse' | 'iframe' | 'longpoll' | 'poll' = TRANSPORTS[0]!;
sub.close();
export { role, done, first };
`);
  assert.equal(good.code, 0, good.output);
  const bad = await typecheck('bad', `
import { subscribe } from 'pushwire/client';
const sub = subscribe('registrations', () => {}, { transport: 'carrier pigeon' });
const n: number = sub.stats.role;
export { n };
`);
  assert.notEqual(bad.code, 0);
  assert.match(bad.output, /carrier pigeon/);
  assert.match(bad.output, /not assignable to type 'number'/);
});

describe('the module in Chromium', { skip: skip, timeout: 60_000 }, () => {
  let browser: Browser;
  let s: RunningServer;
  before(async () => { [browser, s] = await Promise.all([launchChromium(), startServer()]); }, { timeout: 30_000 });
  after(async () => { await browser?.close(); await s?.stop(); }, { timeout: 20_000 });

  test('<script type="module"> imports /pushwire.mjs, subscribes and receives; it is the same client as /push.js', async () => {
    const context = await browser.newContext();
    try {
      const url = `${s.base}/__module-test.html`;
      await context.route(url, (route) => route.fulfill({
        status: 200,
        contentType: 'text/html; charset=utf-8',
        body: `<!doctype html><script type="module">
          import { subscribe, TRANSPORTS } from '/pushwire.mjs';
          window.got = [];
          window.sameClient = window.pushwire.subscribe === subscribe && TRANSPORTS.length === 5;
          window.sub = subscribe('module-test', (m) => window.got.push(m.channel + ':' + m.id + ':' + m.data), { since: 0, transport: 'sse' });
        </script>`,
      }));
      const page = await context.newPage();
      const mime = page.waitForResponse((r) => r.url().endsWith('/pushwire.mjs'));
      await page.goto(url);
      assert.match((await mime).headers()['content-type'] ?? '', /^text\/javascript/);
      s.server.push.publish('module-test', 'm', 'hello');
      await page.waitForFunction(() => (globalThis as any).got?.length === 1, null, { timeout: 10_000, polling: 20 });
      assert.deepEqual(await page.evaluate(() => (globalThis as any).got), ['module-test:1:hello']);
      assert.equal(await page.evaluate(() => (globalThis as any).sameClient), true);
    } finally {
      await context.close();
    }
  });
});
