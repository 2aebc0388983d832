import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../app/helpers.js';
import { launchChromium, skip, until } from './chromium.js';

/**
 * The iframe stream's callback is a name the URL chooses, so a page of another
 * site could make it call anything reachable from the stream's `parent` (Same
 * Origin Method Execution, docs/PROTOCOL.md §3.5 and §6.3): a popup, whose
 * `parent` is itself, with `callback=opener.document.body.remove` after its
 * opener has gone to a page of the server; or a frame of the attacker's page,
 * whose `parent.opener` is such a page. In Chromium, against a real server
 * (the victim, 127.0.0.1:P) and a second one on another port (the attacker).
 */

const ATTACK = 'opener.document.body.remove';

/** The attacker's site: blank pages; its scripts are what the tests evaluate in them. */
function attackerSite(): Promise<{ base: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html><head><meta charset="utf-8"><title>elsewhere</title></head><body><p>another site</p></body></html>');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    resolve({ base: `http://127.0.0.1:${port}`, close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }) });
  }));
}

/**
 * True once a script of the stream calling `callback` has run in this document:
 * the parser inserts the text node that follows a `</script>` only after running it.
 */
function ranScriptOf(callback: string): boolean {
  const doc = (globalThis as any).document;
  for (const script of doc.scripts) {
    if (script.text.includes(`parent.${callback}(`) && script.nextSibling !== null) return true;
  }
  return false;
}

/** The victim's state: its body, and its page still there. */
function victimBody(page: Page): Promise<{ body: boolean; children: number }> {
  return page.evaluate(() => {
    const body = (globalThis as any).document.body;
    return { body: body !== null, children: body?.childElementCount ?? 0 };
  });
}

/**
 * The attack's opening move: the attacker's tab opens a popup of its own site, then goes to
 * the victim's `/`. The popup is then the attacker's, with a victim page as `opener`.
 */
async function victimAsOpener(context: BrowserContext, evil: string, victim: string): Promise<{ tab: Page; popup: Page }> {
  const tab = await context.newPage();
  await tab.goto(`${evil}/`);
  const [popup] = await Promise.all([
    context.waitForEvent('page'),
    tab.evaluate(() => { (globalThis as any).open('/popup', 'pw-popup'); }),
  ]);
  await popup.waitForLoadState('load');
  await Promise.all([tab.waitForURL(`${victim}/`, { waitUntil: 'load' }), tab.evaluate((url) => { (globalThis as any).location.href = url; }, `${victim}/`)]);
  const before = await victimBody(tab);
  assert.ok(before.body && before.children > 0, 'the victim page has a body');
  return { tab, popup };
}

/**
 * For a browser that knows neither frame header: the stream's answers to this context are
 * the server's own bytes, read by the test up to the first script calling `callback`, and
 * its own headers but Content-Security-Policy and X-Frame-Options.
 */
async function withoutFrameHeaders(context: BrowserContext, callback: string): Promise<void> {
  await context.route((url) => url.pathname === '/push/iframe', async (route) => {
    const answer = await new Promise<{ status: number; headers: Record<string, string>; body: string }>((resolve, reject) => {
      http.get(route.request().url(), (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          const call = body.indexOf(`parent.${callback}(`);
          if (call === -1 || body.indexOf('</script>\n', call) === -1) return;
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (!/^(content-security-policy|x-frame-options|transfer-encoding|connection|keep-alive)$/i.test(name) && typeof value === 'string') headers[name] = value;
          }
          resolve({ status: res.statusCode!, headers, body });
          res.destroy();
        });
      }).on('error', reject);
    });
    await route.fulfill(answer);
  });
}

/** The attacker's popup frames the stream; resolves with the frame, once it has loaded (refused) or run a script of the stream. */
async function frameStream(popup: Page, url: string, callback: string): Promise<{ frame: Frame | undefined; loaded: boolean; ran: boolean }> {
  await popup.evaluate((src) => {
    const w = globalThis as any;
    w.__loaded = false;
    const frame = w.document.createElement('iframe');
    frame.onload = () => { w.__loaded = true; };
    frame.src = src;
    w.document.body.appendChild(frame);
  }, url);
  const streamFrame = (): Frame | undefined => popup.frames().find((f) => f !== popup.mainFrame());
  const ran = async (): Promise<boolean> => {
    const frame = streamFrame();
    if (!frame || !frame.url().includes('/push/iframe')) return false;
    return frame.evaluate(ranScriptOf, callback).catch(() => false);
  };
  let loaded = false;
  let didRun = false;
  await until(async () => {
    loaded = await popup.evaluate(() => (globalThis as any).__loaded);
    didRun = await ran();
    return loaded || didRun;
  }, 10_000, 'the framed stream to be refused or to run its script');
  return { frame: streamFrame(), loaded, ran: didRun };
}

describe('the iframe stream calls back only into a frame\'s parent of its own origin', { skip, timeout: 60_000 }, () => {
  let browser: Browser;
  let victim: RunningServer;
  let evil: { base: string; close(): Promise<void> };
  let channel = 0;

  before(async () => {
    [browser, victim, evil] = await Promise.all([launchChromium(), startServer(), attackerSite()]);
  });
  after(async () => {
    await browser?.close();
    await Promise.all([victim?.stop(), evil?.close()]);
  });

  /** A channel with one message in its log, and the stream URL that replays it with `callback`. */
  function streamUrl(callback: string): string {
    const name = `some-${++channel}`;
    victim.server.push.publish(name, 'x', { n: 1 });
    return `${victim.base}/push/iframe?channel=${name}&since=0&callback=${callback}`;
  }

  test('a popup of another site loading the stream with callback=opener.document.body.remove leaves its opener intact', async () => {
    const context = await browser.newContext();
    try {
      const { tab, popup } = await victimAsOpener(context, evil.base, victim.base);
      const url = streamUrl(ATTACK);
      await popup.evaluate((u) => { (globalThis as any).location.href = u; }, url);
      await popup.waitForURL(url, { waitUntil: 'commit' });
      await popup.waitForFunction(ranScriptOf, ATTACK, { timeout: 10_000, polling: 20 });
      // In the popup, parent is the popup itself, and parent.opener the victim's tab.
      assert.equal(await popup.evaluate(() => (globalThis as any).parent === (globalThis as any).self), true);
      assert.equal(await popup.evaluate(() => (globalThis as any).opener.location.href), `${victim.base}/`);
      assert.equal((await victimBody(tab)).body, true, 'the victim page lost its body');
    } finally {
      await context.close();
    }
  });

  test('a page of another site cannot frame the stream (frame-ancestors \'self\'): its parent.opener stays intact', async () => {
    const context = await browser.newContext();
    try {
      const { tab, popup } = await victimAsOpener(context, evil.base, victim.base);
      const refusals: string[] = [];
      popup.on('console', (m) => { if (/frame-ancestors/.test(m.text())) refusals.push(m.text()); });
      const { frame, loaded, ran } = await frameStream(popup, streamUrl(ATTACK), ATTACK);
      assert.equal((await victimBody(tab)).body, true, 'the victim page lost its body');
      assert.equal(ran, false, 'the framed stream ran its script');
      assert.equal(loaded, true);
      assert.ok(frame && !frame.url().startsWith(victim.base), `the frame shows ${frame?.url()}`);
      assert.ok(refusals.length > 0, 'Chromium reports the frame-ancestors refusal');
    } finally {
      await context.close();
    }
  });

  test('without the frame headers too, a stream framed by another site calls nothing (parent.opener, top.opener)', async () => {
    const context = await browser.newContext();
    try {
      const { tab, popup } = await victimAsOpener(context, evil.base, victim.base);
      for (const callback of [ATTACK, 'top.opener.document.body.remove']) {
        await withoutFrameHeaders(context, callback);
        const { frame, ran } = await frameStream(popup, streamUrl(callback), callback);
        assert.equal(ran, true, 'the frame loaded the stream and ran its script');
        assert.ok(frame?.url().startsWith(`${victim.base}/push/iframe`));
        assert.equal((await victimBody(tab)).body, true, `the victim page lost its body to ${callback}`);
        await popup.evaluate(() => (globalThis as any).document.querySelector('iframe').remove());
        await context.unrouteAll();
      }
    } finally {
      await context.close();
    }
  });

  test('a page of the server\'s own origin framing the stream gets its messages', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${victim.base}/`);
      await page.evaluate((src) => {
        const w = globalThis as any;
        w.__seen = [];
        w.__got = (m: unknown) => w.__seen.push(m);
        const frame = w.document.createElement('iframe');
        frame.src = src;
        w.document.body.appendChild(frame);
      }, streamUrl('__got'));
      await page.waitForFunction(() => (globalThis as any).__seen.length === 1, undefined, { timeout: 10_000, polling: 20 });
      const got = await page.evaluate(() => (globalThis as any).__seen);
      assert.deepEqual(got, [{ id: 1, event: 'x', data: { n: 1 } }]);
    } finally {
      await context.close();
    }
  });
});
