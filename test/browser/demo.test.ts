import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Socket } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, skip, until } from './chromium.js';
import { ROOT, register, request, startServer, tempDataDir, type RunningServer } from '../app/helpers.js';

/**
 * The demo in a real browser: Debian's chromium driven by playwright-core,
 * against real servers on 127.0.0.1.
 */
const TRANSPORTS = ['poll', 'longpoll', 'iframe', 'sse', 'websocket'] as const;
/** Polls every 500 ms, so the short-polling panel keeps up within the tests' time. */
const PAGE = '/?poll=500';

interface Seen { kind: 'message' | 'reload'; id: number; count: number }

/** Every console error, page error, failed request and error status of a page. */
function watchForTrouble(page: Page): { problems: string[]; stop(): void } {
  const problems: string[] = [];
  let watching = true;
  page.on('console', (m) => { if (watching && m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => { if (watching) problems.push(`page error: ${e.message}`); });
  page.on('requestfailed', (r) => { if (watching) problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`); });
  page.on('response', (r) => { if (watching && r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`); });
  return { problems, stop: () => { watching = false; } };
}

function text(page: Page, selector: string): Promise<string | null> {
  return page.textContent(selector);
}

async function waitForText(page: Page, selector: string, expected: string, timeout = 10_000): Promise<void> {
  try {
    await page.waitForFunction(
      ([s, t]) => (globalThis as any).document.querySelector(s)?.textContent === t,
      [selector, expected] as const,
      { timeout, polling: 50 },
    );
  } catch {
    assert.fail(`${selector}: expected ${JSON.stringify(expected)}, have ${JSON.stringify(await text(page, selector))}`);
  }
}

async function waitForPanels(page: Page, count: number, timeout = 10_000): Promise<void> {
  await waitForText(page, '#count', String(count), timeout);
  for (const t of TRANSPORTS) await waitForText(page, `#panel-${t} [data-stat="count"]`, String(count), timeout);
}

/**
 * What one subscription saw must add up: each message carries the previous
 * count plus one (nothing lost, nothing twice); a reload after a gap may jump ahead.
 */
function assertExactlyOnce(label: string, seen: Seen[], start: number, end: number): void {
  let count = start;
  const ids = new Set<number>();
  for (const entry of seen) {
    if (entry.kind === 'message') {
      assert.equal(entry.count, count + 1, `${label}: after count ${count} came ${entry.count} (${JSON.stringify(seen)})`);
      assert.ok(!ids.has(entry.id), `${label}: id ${entry.id} twice`);
      ids.add(entry.id);
    } else {
      assert.ok(entry.count >= count, `${label}: a reload went back from ${count} to ${entry.count}`);
    }
    count = entry.count;
  }
  assert.equal(count, end, `${label}: ends at ${count}, not ${end}`);
}

describe('the demo in Chromium', { skip, timeout: 180_000 }, () => {
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  before(async () => {
    browser = await launchChromium();
  }, { timeout: 30_000 });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
  }, { timeout: 20_000 });

  /** A page in a context of its own: separate contexts do not share the browser's 6 connections per host. */
  async function open(base: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    return context.newPage();
  }

  describe('on one server', () => {
    let s: RunningServer;
    let first: Page;
    before(async () => { s = await startServer({ capacity: 100 }); });
    after(async () => { await s.stop(); });

    test('the page loads with no console error and no failed request, and a registration over HTTP reaches every panel', async () => {
      first = await open(s.base);
      const trouble = watchForTrouble(first);
      // This page polls at the default 2 s: it is the one in the README's screenshot.
      await first.goto(s.base + '/');
      await waitForText(first, '#capacity', '100');
      await waitForText(first, '#main-transport', 'WebSocket (open)');
      for (const t of TRANSPORTS) await waitForText(first, `#panel-${t} [data-stat="state"]`, 'open');

      assert.equal((await register(s.base, 'Ada')).status, 201);
      await waitForPanels(first, 1);
      for (const t of TRANSPORTS) {
        const requests = Number(await text(first, `#panel-${t} [data-stat="requests"]`));
        assert.ok(requests >= 1, `${t}: ${requests} requests`);
        assert.match(String(await text(first, `#panel-${t} [data-stat="bytes"]`)), /^[1-9]\d* B$/, t);
        assert.match(String(await text(first, `#panel-${t} [data-stat="delay"]`)), /^\d+ ms$/, t);
      }
      // Polling pays per request; a stream pays once.
      const pollRequests = Number(await text(first, '#panel-poll [data-stat="requests"]'));
      await first.waitForFunction(
        (n) => Number((globalThis as any).document.querySelector('#panel-poll [data-stat="requests"]')?.textContent) >= n,
        pollRequests + 2, { timeout: 10_000, polling: 50 }); // short polling keeps asking
      assert.equal(await text(first, '#panel-websocket [data-stat="requests"]'), '1');
      assert.equal(await text(first, '#panel-sse [data-stat="requests"]'), '1');
      assert.deepEqual(trouble.problems, []);
      trouble.stop();
    });

    test('a chat message typed in one page shows in a second one; the sign-up form works', async () => {
      const second = await open(s.base);
      await second.goto(s.base + PAGE);
      await waitForText(second, '#main-transport', 'WebSocket (open)');
      for (const [from, to, words] of [[first, second, 'Hello from the first page'], [second, first, 'Grüße — from the second page']] as const) {
        await from.fill('#chat-input', words);
        await from.press('#chat-input', 'Enter');
        await to.waitForSelector(`#chat-log li >> text=${words}`, { timeout: 5000 });
        await from.waitForSelector(`#chat-log li >> text=${words}`, { timeout: 5000 });
      }
      // A message too long for the server is refused by the page's field (maxlength) before it leaves.
      assert.equal(await first.getAttribute('#chat-input', 'maxlength'), '1000');

      await first.fill('#name', 'Grace Hopper');
      await first.click('#signup-button');
      await waitForText(first, '#signup-status', "You're in, Grace Hopper: place 2 of 100.");
      await waitForText(second, '#count', '2');
      await first.fill('#name', 'grace hopper');
      await first.click('#signup-button');
      await waitForText(first, '#signup-status', '“grace hopper” is already registered.');

      // A little life for the screenshot in the README.
      for (const name of ['Alan', 'Barbara', 'Edsger', 'Frances', 'Ken', 'Margaret', 'Niklaus', 'Radia', 'Tim', 'Vint']) await register(s.base, name);
      await second.fill('#chat-input', 'Counting along over a WebSocket here.');
      await second.press('#chat-input', 'Enter');
      await waitForPanels(first, 12);
      await first.waitForSelector('#chat-log li >> text=Counting along', { timeout: 5000 });
      await first.fill('#name', 'Linus');
      await first.click('#signup-button');
      await waitForText(first, '#signup-status', "You're in, Linus: place 13 of 100.");
      await waitForPanels(first, 13);
      // The README's picture is refreshed only on request, so that a test run leaves the checkout clean.
      const shot = process.env.UPDATE_SCREENSHOT ? path.join(ROOT, 'docs/screenshot.png') : path.join(ROOT, 'build/screenshot.png');
      await first.screenshot({ path: shot, fullPage: true });
    });
  });

  test('when WebSocket upgrades are refused, the client falls back to SSE and still counts live, up to sold out', async () => {
    const s = await startServer({ capacity: 2 }, { refuseUpgrades: true });
    try {
      const page = await open(s.base);
      await page.goto(s.base + PAGE);
      await waitForText(page, '#main-transport', 'Server-Sent Events (open)', 15_000);
      assert.equal(await page.evaluate('window.pushwireDemo.subs.main.stats.fallbacks'), 1);
      assert.equal(await page.evaluate('window.pushwireDemo.subs.main.stats.transport'), 'sse');
      assert.notEqual(await text(page, '#panel-websocket [data-stat="state"]'), 'open');

      assert.equal((await register(s.base, 'Ada')).status, 201);
      await waitForText(page, '#count', '1');
      await waitForText(page, '#panel-sse [data-stat="count"]', '1');
      // With no WebSocket open, emit() goes over POST /push/emit.
      await page.fill('#chat-input', 'sent without a WebSocket');
      await page.press('#chat-input', 'Enter');
      await page.waitForSelector('#chat-log li >> text=sent without a WebSocket', { timeout: 5000 });

      assert.equal((await register(s.base, 'Bob')).status, 201);
      await waitForText(page, '#count', '2');
      await page.waitForSelector('#sold-out', { state: 'visible', timeout: 5000 });
      assert.equal(await page.isDisabled('#signup-button'), true);
      assert.equal(await page.isDisabled('#name'), true);
    } finally {
      await s.stop();
    }
  });

  test('dropped connections and a server restart mid-stream: every technique resumes with nothing lost or doubled', async () => {
    const dataDir = tempDataDir('pushwire-browser-');
    // Heartbeats every 500 ms, and a page that trusts a silent stream for 3 s: a cut iframe stream
    // (which the browser never reports) is noticed in seconds rather than the default 35 s.
    const heartbeat = { push: { heartbeatInterval: 500 } };
    let s = await startServer({ capacity: 1000, dataDir }, heartbeat);
    const port = s.port;
    const connections = new Set<Socket>();
    s.server.http.on('connection', (socket: Socket) => { connections.add(socket); socket.on('close', () => connections.delete(socket)); });
    const deadline = Date.now() + 40_000;
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let acknowledged = 0;
    /** Attempts refused or cut while the server was away (or shutting down). */
    let refused = 0;
    /** Registers one name, retrying while the server is away, until it is acknowledged. */
    const registerSurely = async (name: string) => {
      while (Date.now() < deadline) {
        try {
          const a = await register(`http://127.0.0.1:${port}`, name);
          if (a.status === 201) return void acknowledged++;
          // Durable, but its answer was lost when the server went away.
          if (a.status === 409 && a.json.error === 'already registered') return void acknowledged++;
          assert.equal(a.status, 503, a.text); // shutting down: try again
          refused++;
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          // connection refused or reset while restarting
          refused++;
        }
        await pause(50);
      }
      throw new Error(`${name} never acknowledged`);
    };

    try {
      const page = await open(s.base);
      await page.goto(s.base + PAGE + '&stall=3000');
      for (const t of TRANSPORTS) await waitForText(page, `#panel-${t} [data-stat="state"]`, 'open');
      await waitForText(page, '#main-transport', 'WebSocket (open)');

      for (let i = 0; i < 10; i++) { await registerSurely(`a${i}`); await pause(30); }
      // Every connection of the page is cut at once, mid-stream: each technique resumes from its last id.
      for (const socket of connections) socket.destroy();
      for (let i = 0; i < 10; i++) { await registerSurely(`b${i}`); await pause(30); }
      await waitForPanels(page, 20);
      const beforeRestart = (await page.evaluate('window.pushwireDemo.seen')) as Record<string, Seen[]>;
      for (const [label, seen] of Object.entries(beforeRestart)) {
        assert.deepEqual(seen.filter((e) => e.kind === 'reload'), [], `${label}: a dropped connection resumes without a reload`);
        assertExactlyOnce(label, seen, 0, 20);
      }

      // Now the server itself goes away while registrations keep coming, and comes back on the same port and data dir.
      const stream = (async () => { for (let i = 0; i < 30; i++) { await registerSurely(`c${i}`); await pause(30); } })();
      // Mid-stream: a few of the 30 in (bounds for a hung run)...
      await until(() => acknowledged >= 20 + 3, 10_000, 'registrations under way');
      await s.stop();
      // ...and back only once one has been turned away while the server was gone.
      const refusedAtStop = refused;
      await until(() => refused > refusedAtStop, 10_000, 'a registration refused while the server is away');
      s = await startServer({ capacity: 1000, dataDir, port }, heartbeat);
      await stream;
      assert.equal(acknowledged, 50);
      assert.equal((await request(s.base, 'GET', '/api/registrations')).json.count, 50);
      await waitForPanels(page, 50, 15_000);
      const seen = (await page.evaluate('window.pushwireDemo.seen')) as Record<string, Seen[]>;
      assert.deepEqual(Object.keys(seen).sort(), ['iframe', 'longpoll', 'main', 'poll', 'sse', 'websocket']);
      for (const [label, entries] of Object.entries(seen)) {
        assertExactlyOnce(label, entries, 0, 50);
        // The new run cannot know what the old one sent: one gap, answered by reloading the state.
        assert.equal(entries.filter((e) => e.kind === 'reload').length, 1, `${label}: one reload`);
      }
    } finally {
      await s.stop();
    }
  });
});
