import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PushStats } from '../../src/push/index.js';
import { register, request, startServer, type RunningServer } from '../app/helpers.js';
import { launchChromium, skip, until } from './chromium.js';
import { demo, openWindow, signUp, waitForText } from './demo-page.js';

/**
 * One connection per browser: the demo in many windows of one browser
 * profile at once (the pages of one Chromium context share its connection
 * limit, Web Locks and BroadcastChannel, as the windows of a profile do).
 *
 * The times are printed, the page's own (performance.now, from the navigation
 * or the submit) where the page can tell. How fast the windows load, answer
 * and take over (targets 2 s, 1 s, 2 s) is checked by `npm run bench` (its
 * browser section) on a quiet machine: on these two cores with a bench
 * running beside the suite, even the page's own clock once read 2.25 s for a
 * first window. The bounds here are those of a hung or starved window.
 */
const HUNG_MS = 10_000;

interface Seen { kind: 'message' | 'reload'; id: number; count: number }

async function chat(page: Page, text: string): Promise<void> {
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
}

async function chatLines(page: Page): Promise<string[]> {
  return page.$$eval('#chat-log li', (items) => items.map((li) => li.textContent ?? ''));
}

/** Each count once, each the previous plus one, from `start` to `end`; no reload. */
function assertExactlyOnce(label: string, seen: Seen[], start: number, end: number): void {
  let count = start;
  for (const entry of seen) {
    assert.equal(entry.kind, 'message', `${label}: no reload expected (${JSON.stringify(entry)})`);
    assert.equal(entry.count, count + 1, `${label}: after count ${count} came ${entry.count}`);
    count = entry.count;
  }
  assert.equal(count, end, `${label}: ends at ${count}, not ${end}`);
}

/** Ids strictly consecutive: none lost, none twice. */
function assertConsecutive(label: string, ids: number[], first: number, last: number): void {
  assert.deepEqual(ids, Array.from({ length: last - first + 1 }, (_, i) => first + i), label);
}

/** What a browser holds open on the server. */
function held(s: RunningServer): Pick<PushStats, 'connections' | 'subscriptions' | 'websockets' | 'streams' | 'heldPolls'> {
  const { connections, subscriptions, websockets, streams, heldPolls } = s.server.push.stats();
  return { connections, subscriptions, websockets, streams, heldPolls };
}

/** Waits until the figures have stayed the same for a while (no join, re-open or poll in flight), and returns them. */
async function steady(s: RunningServer, ms = 400): Promise<ReturnType<typeof held>> {
  let last = JSON.stringify(held(s));
  let since = Date.now();
  await until(() => {
    const now = JSON.stringify(held(s));
    if (now !== last) { last = now; since = Date.now(); }
    return Date.now() - since >= ms;
  }, 10_000, 'steady connections');
  return JSON.parse(last);
}

describe('the demo in many windows of one browser', { skip: skip, timeout: 90_000 }, () => {
  let browser: Browser;
  before(async () => { browser = await launchChromium(); }, { timeout: 30_000 });
  after(async () => { await browser?.close(); }, { timeout: 20_000 });

  describe('with WebSocket', () => {
    let s: RunningServer;
    let context: BrowserContext;
    const windows: Page[] = [];
    let alone: ReturnType<typeof held>;
    before(async () => {
      s = await startServer({ capacity: 100 });
      context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    });
    after(async () => { await context?.close(); await s?.stop(); });

    test('4 windows at once: each loads, answers its own sign-up, follows the others, and the chat crosses', async (t) => {
      const first = await openWindow(context, s.base);
      windows.push(first.page);
      for (const t of ['poll', 'longpoll', 'iframe', 'sse', 'websocket']) await waitForText(first.page, `#panel-${t} [data-stat="state"]`, 'open');
      alone = await steady(s);

      const more = await Promise.all([1, 2, 3].map(() => openWindow(context, s.base)));
      windows.push(...more.map((w) => w.page));
      const loads = [first.loadMs, ...more.map((w) => w.loadMs)];
      t.diagnostic(`load times: ${loads.join(', ')} ms`);
      for (const ms of loads) assert.ok(ms < HUNG_MS, `a window took ${ms} ms to load (all: ${loads.join(', ')})`);
      for (const page of windows) assert.equal(await page.evaluate(() => (globalThis as any).document.visibilityState), 'visible');
      // One window holds the connection (and runs the panels); the others are relayed and say where the panels are.
      const roles = await Promise.all(windows.map((p) => demo<string>(p, 'subs.main.stats.role')));
      assert.deepEqual(roles, ['leader', 'follower', 'follower', 'follower']);
      // The window running the panels shows them, not the notice that they run elsewhere.
      assert.equal(await first.page.isVisible('#panels-elsewhere'), false);
      assert.equal(await first.page.isVisible('#panels'), true);
      for (const page of windows.slice(1)) {
        assert.equal(await page.isVisible('#panels-elsewhere'), true);
        assert.equal(await page.isVisible('#panels'), false);
        assert.match(String(await page.textContent('#panels-where')), /^the window opened at /);
        assert.match(String(await page.textContent('#main-role')), /shared with the window that holds it/);
      }

      const answers = await Promise.all(windows.map((page, i) => signUp(page, `Window ${i + 1}`)));
      t.diagnostic(`sign-ups answered in ${answers.join(', ')} ms`);
      for (const ms of answers) assert.ok(ms < HUNG_MS, `a sign-up took ${ms} ms (all: ${answers.join(', ')})`);
      for (const page of windows) await waitForText(page, '#count', '4');
      for (const [i, page] of windows.entries()) assertExactlyOnce(`window ${i + 1}`, await demo<Seen[]>(page, 'seen.main'), 0, 4);

      await Promise.all(windows.map((page, i) => chat(page, `hello from window ${i + 1}`)));
      for (const page of windows) {
        await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#chat-log li').length === 4, null, { timeout: 5000, polling: 20 });
        assert.deepEqual((await chatLines(page)).sort(), [1, 2, 3, 4].map((i) => `hello from window ${i}`));
        assertConsecutive('chat', await demo<number[]>(page, 'chatIds'), 1, 4);
      }
    });

    test('8 windows hold as many WebSockets, streams, held polls and channel subscriptions on the server as 1', async (t) => {
      const more = await Promise.all([5, 6, 7, 8].map(() => openWindow(context, s.base)));
      windows.push(...more.map((w) => w.page));
      t.diagnostic(`load times: ${more.map((w) => w.loadMs).join(', ')} ms`);
      for (const { loadMs } of more) assert.ok(loadMs < HUNG_MS, `${loadMs} ms`);
      const eight = await steady(s);
      assert.deepEqual(eight, alone);
      // One shared WebSocket (registrations + chat) and the panels of one window (WebSocket, SSE, iframe, long poll).
      assert.deepEqual(alone, { connections: 5, subscriptions: 6, websockets: 2, streams: 2, heldPolls: 1 });
    });

    test('closing the window that holds the connection: another takes over, and no window loses or doubles a message', async (t) => {
      const leader = windows[0]!;
      const rest = windows.slice(1);
      const startCount = Number(await leader.textContent('#count'));
      const chatBefore = (await demo<number[]>(rest[0]!, 'chatIds')).length;
      let registered = 0;
      let chatted = 0;
      let stop = false;
      // Registrations and chat from outside the browser, all along, before, during and after the takeover.
      const traffic = (async () => {
        while (!stop) {
          const a = await register(s.base, `outside ${registered}`);
          assert.equal(a.status, 201);
          registered++;
          const c = await request(s.base, 'POST', '/push/emit', JSON.stringify({ event: 'chat message', data: `outside ${chatted}` }));
          assert.equal(c.status, 202);
          chatted++;
          await new Promise((resolve) => setTimeout(resolve, 15));
        }
      })();
      // The WebSockets the remaining windows open, as they open them: the server's count of
      // WebSockets would pass on the old leader's before it is seen to close, or on the panels'.
      const opened: Page[] = [];
      for (const page of rest) page.on('websocket', () => opened.push(page));
      await until(() => registered >= 5, 5000, 'traffic');
      const closedAt = Date.now();
      await leader.close();
      windows.shift();
      await until(async () => (await Promise.all(rest.map((p) => demo<string>(p, 'subs.main.stats.role')))).includes('leader'), HUNG_MS, 'a new leader');
      const newLeader = rest[(await Promise.all(rest.map((p) => demo<string>(p, 'subs.main.stats.role')))).indexOf('leader')]!;
      await until(() => opened.includes(newLeader), HUNG_MS, 'the new leader\'s WebSocket');
      await waitForText(newLeader, '#main-transport', 'WebSocket (open)', HUNG_MS);
      const takeover = Date.now() - closedAt;
      t.diagnostic(`takeover: ${takeover} ms`);
      assert.ok(takeover < HUNG_MS, `takeover took ${takeover} ms`);
      const during = registered;
      await until(() => registered >= during + 5, 5000, 'traffic after the takeover');
      stop = true;
      await traffic;

      const end = startCount + registered;
      for (const [i, page] of rest.entries()) {
        await waitForText(page, '#count', String(end), 5000);
        const seen = await demo<Seen[]>(page, 'seen.main');
        assertExactlyOnce(`window ${i + 2}`, seen.slice(seen.findIndex((e) => e.count === startCount + 1)), startCount, end);
        // At least as many as sent (then the ids say what is wrong, if anything: a loss, a double).
        await page.waitForFunction((n) => (globalThis as any).pushwireDemo.chatIds.length >= n, chatBefore + chatted, { timeout: 5000, polling: 20 }).catch(() => {});
        assertConsecutive(`window ${i + 2}: chat`, await demo<number[]>(page, 'chatIds'), 1, chatBefore + chatted);
      }
      // The panels moved on with the lock, to one of the remaining windows.
      await until(async () => (await Promise.all(rest.map((p) => demo<boolean>(p, 'panelsHere()')))).filter(Boolean).length === 1, 3000, 'the panels in one window');
    });

    test('"Run them here" takes the panels over from the window running them', async () => {
      const runner = windows[(await Promise.all(windows.map((p) => demo<boolean>(p, 'panelsHere()')))).indexOf(true)]!;
      const other = windows.find((p) => p !== runner)!;
      await other.click('#panels-here');
      for (const t of ['poll', 'longpoll', 'iframe', 'sse', 'websocket']) await waitForText(other, `#panel-${t} [data-stat="state"]`, 'open');
      assert.equal(await demo<boolean>(runner, 'panelsHere()'), false);
      assert.equal(await runner.isVisible('#panels-elsewhere'), true);
      assert.equal(await other.isVisible('#panels-elsewhere'), false);
      // The runner's panels are closed in its page at once; the server hears of each connection's close
      // when Chromium lets it go (its iframe stream's a second or more later under load): wait for that.
      const settled = await until(() => isDeepStrictEqual(held(s), alone), 10_000, 'the connections of one window of panels').then(() => true, () => false);
      const now = held(s);
      if (!settled) {
        // What each window runs, and whether the extra connection goes away later: a panel left running, or one re-opened.
        const runs = await Promise.all(windows.map((p) => p.evaluate(() => {
          const d = (globalThis as any).pushwireDemo;
          return { panelsHere: d.panelsHere(), subs: Object.fromEntries(Object.keys(d.subs).map((k) => [k, d.subs[k].stats])) };
        })));
        assert.fail(`the server still holds ${JSON.stringify(now)} after 10 s, not ${JSON.stringify(alone)}; windows (runner ${windows.indexOf(runner)}, other ${windows.indexOf(other)}): ${JSON.stringify(runs)}`);
      }
    });
  });

  test('WebSocket upgrades refused: 8 windows still sign up and chat, holding at most 4 of the 6 connections, and no request waits for one', async (t) => {
    const s = await startServer({ capacity: 100 }, { refuseUpgrades: true });
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    try {
      const windows: Page[] = [];
      for (let i = 0; i < 8; i++) windows.push((await openWindow(context, s.base)).page);
      await waitForText(windows[0]!, '#main-transport', 'Server-Sent Events (open)', 10_000);
      const answers: number[] = [];
      for (const [i, page] of windows.entries()) answers.push(await signUp(page, `Refused ${i + 1}`));
      t.diagnostic(`sign-ups answered in ${answers.join(', ')} ms`);
      for (const ms of answers) assert.ok(ms < HUNG_MS, `a sign-up took ${ms} ms (all: ${answers.join(', ')})`);
      await Promise.all(windows.map((page, i) => chat(page, `no upgrade ${i + 1}`)));
      for (const page of windows) {
        await waitForText(page, '#count', '8');
        assertExactlyOnce('refused', await demo<Seen[]>(page, 'seen.main'), 0, 8);
        await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#chat-log li').length === 8, null, { timeout: 5000, polling: 20 });
      }
      // The shared SSE stream, and the panels' SSE, iframe and long poll: 4 of the browser's 6.
      const h = await steady(s);
      assert.ok(h.streams + h.heldPolls <= 4, JSON.stringify(h));
      // Resource Timing: no request of any window sat waiting for a connection. A busy
      // machine delays a request by a few hundred ms; one behind six held connections
      // waits until one of them ends (1.4 s at the least when this was checked).
      for (const page of windows) {
        const waits = await page.evaluate(() => (globalThis as any).performance.getEntriesByType('resource')
          .map((e: any) => ({ name: e.name, queued: e.requestStart - e.fetchStart }))
          .filter((e: any) => e.queued > 1000));
        assert.deepEqual(waits, []);
      }
    } finally {
      await context.close();
      await s.stop();
    }
  });
});
