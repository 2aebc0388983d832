import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchChromium, skip } from './chromium.js';
import { startServer, type RunningServer } from '../app/helpers.js';

/**
 * Chromium against /echo: it offers permessage-deflate on every WebSocket, so
 * this checks the negotiation and both directions of compressed messages with
 * a real browser (text, non-ASCII text, binary, empty), in order.
 */

let browser: Browser;
let s: RunningServer;

before(async () => {
  if (skip) return;
  s = await startServer();
  browser = await launchChromium();
}, { timeout: 30_000 });

after(async () => {
  await browser?.close();
  await s?.stop();
});

test('Chromium negotiates permessage-deflate with /echo and exchanges compressed messages in order', { skip, timeout: 30_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(s.base + '/');
  const result = await page.evaluate(async (url: string) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    const big = 'pushwire '.repeat(2000);
    const unicode = 'é 日本語 🚀 '.repeat(300);
    const bytes = new Uint8Array(150_000).map((_, i) => (i * 7) & 0xff);
    const sent: (string | Uint8Array)[] = ['short', big, unicode, bytes, ''];
    const answers: (string | number[])[] = [];
    const done = new Promise<void>((resolve) => {
      ws.onmessage = (e) => {
        answers.push(typeof e.data === 'string' ? e.data : Array.from(new Uint8Array(e.data as ArrayBuffer).subarray(0, 16)).concat([(e.data as ArrayBuffer).byteLength]));
        if (answers.length === sent.length) resolve();
      };
    });
    for (const m of sent) ws.send(m);
    await done;
    const extensions = ws.extensions;
    ws.close(1000);
    return {
      extensions,
      ok: answers[0] === 'short' && answers[1] === big && answers[2] === unicode && answers[4] === '',
      binary: answers[3],
      expectedBinary: Array.from(bytes.subarray(0, 16)).concat([bytes.length]),
    };
  }, `ws://127.0.0.1:${s.port}/echo`);
  assert.match(result.extensions, /^permessage-deflate/);
  assert.ok(result.ok, 'text messages echoed intact and in order');
  assert.deepEqual(result.binary, result.expectedBinary);
  await context.close();
});
