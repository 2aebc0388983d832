import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createPushwireServer, type PushwireServerOptions } from '../../src/pushwire-server.js';
import { tempDataDir } from '../app/helpers.js';
import { launchChromium, routeBlankPage, skip, until, watchForTrouble } from './chromium.js';

/**
 * The browser client /push.js multiplexing: the subscriptions of a page on
 * one connection, the pages of a browser on one connection, and the way back
 * to WebSocket after a fallback. Every check of "nothing lost, nothing twice"
 * is by ids, after a sentinel message.
 */

interface Running {
  base: string;
  push: ReturnType<typeof createPushwireServer>['push'];
  options: PushwireServerOptions;
  stop(): Promise<void>;
}

async function start(options: PushwireServerOptions = {}): Promise<Running> {
  const opts: PushwireServerOptions = { log: () => {}, ...options };
  const server = createPushwireServer({ port: 0, host: '127.0.0.1', capacity: 100, dataDir: tempDataDir('pushwire-mux-'), maxMessage: 1 << 20 }, opts);
  const { port } = await server.listen();
  return { base: `http://127.0.0.1:${port}`, push: server.push, options: opts, stop: () => server.shutdown() };
}

const pumps = new Set<NodeJS.Timeout>();

/** Publishes on a channel every few ms until stopped: traffic across every change the test makes. */
function pump(s: Running, channel: string, every = 8): { stop(): number } {
  let n = 0;
  const timer = setInterval(() => { s.push.publish(channel, 'n', ++n); }, every);
  timer.unref();
  pumps.add(timer);
  return { stop() { clearInterval(timer); pumps.delete(timer); return n; } };
}

/** Installs a recorder in the page: `__sub(name, channel, options)` keeps every message id (and gap) per name. */
async function recorder(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = globalThis as any;
    w.__got = {};
    w.__subs = {};
    w.__sub = (name: string, channel: string, options: object) => {
      w.__got[name] = [];
      w.__subs[name] = w.pushwire.subscribe(channel, (m: any) => w.__got[name].push(m.event === 'end' ? 'end' : m.id), options);
    };
  });
}

function got(page: Page, name: string): Promise<Array<number | 'end'>> {
  return page.evaluate((n) => (globalThis as any).__got[n], name);
}

function stats(page: Page, name: string): Promise<any> {
  return page.evaluate((n) => (globalThis as any).__subs[n].stats, name);
}

async function waitForEnd(page: Page, name: string, ms = 10_000): Promise<number[]> {
  await page.waitForFunction((n) => (globalThis as any).__got[n]?.includes('end'), name, { timeout: ms, polling: 20 });
  const ids = await got(page, name);
  return ids.filter((x): x is number => x !== 'end');
}

/** from, from+1, ..., to: each id once, in order. */
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('the browser client multiplexes', { skip: skip, timeout: 60_000 }, () => {
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  before(async () => { browser = await launchChromium(); }, { timeout: 30_000 });
  after(async () => {
    for (const timer of pumps) clearInterval(timer);
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
  }, { timeout: 20_000 });

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    contexts.push(context);
    return context;
  }

  test('the subscriptions of a page share one connection on every technique; joining and leaving loses and doubles nothing', async () => {
    await Promise.all((['websocket', 'sse', 'iframe', 'longpoll', 'poll'] as const).map(async (transport) => {
      const s = await start();
      try {
        const context = await newContext();
        const page = await context.newPage();
        const trouble = watchForTrouble(page);
        await page.goto(await routeBlankPage(context, s.base));
        await recorder(page);
        for (let i = 1; i <= 2; i++) for (const c of ['a', 'b', 'c']) s.push.publish(c, 'n', i);
        const options = { transport, share: false, pollInterval: 50, events: ['n', 'end'] };
        await page.evaluate((o) => {
          const w = globalThis as any;
          w.__sub('a', 'a', { ...o, since: 0 });
          w.__sub('b', 'b', { ...o, since: 0 });
        }, options);
        await page.waitForFunction(() => (globalThis as any).__got.a.length >= 2 && (globalThis as any).__got.b.length >= 2, null, { timeout: 10_000, polling: 20 });
        if (transport !== 'poll') {
          await until(() => s.push.stats().connections === 1 && s.push.stats().subscriptions === 2, 5000, `${transport}: one connection, two channels`);
        }
        const traffic = pump(s, 'a');
        // A third channel joins, from an old cursor, while 'a' is busy...
        await page.evaluate((o) => (globalThis as any).__sub('c', 'c', { ...o, since: 1 }), options);
        await page.waitForFunction(() => (globalThis as any).__got.c.length >= 1, null, { timeout: 10_000, polling: 20 });
        // ...and a second listener of 'a' from an old cursor: the connection goes back for it
        // (in band on a WebSocket) while 'a' is busy, and it gets every id after its cursor.
        await page.evaluate((o) => (globalThis as any).__sub('a2', 'a', { ...o, since: 1 }), options);
        await page.waitForFunction(() => (globalThis as any).__got.a2.length >= 1, null, { timeout: 10_000, polling: 20 });
        // ...and one leaves.
        await page.evaluate(() => (globalThis as any).__subs.b.close());
        if (transport !== 'poll') {
          await until(() => s.push.stats().connections === 1 && s.push.stats().subscriptions === 2, 5000, `${transport}: still one connection, now a and c`);
        }
        const pumped = traffic.stop();
        s.push.publish('a', 'end', null);
        s.push.publish('c', 'end', null);
        s.push.publish('b', 'n', 'after leaving');
        assert.deepEqual(await waitForEnd(page, 'a'), range(1, 2 + pumped), `${transport}: a`);
        assert.deepEqual(await waitForEnd(page, 'a2'), range(2, 2 + pumped), `${transport}: a2, from an old cursor`);
        assert.deepEqual(await waitForEnd(page, 'c'), [2], `${transport}: c`);
        assert.deepEqual(await got(page, 'b'), [1, 2], `${transport}: b`);
        const st = await stats(page, 'a');
        assert.equal(st.transport, transport);
        assert.equal(st.role, 'alone');
        // A WebSocket changes its channels in band; the others re-open with every cursor.
        if (transport === 'websocket') assert.equal(st.requests, 1, 'one WebSocket for everything');
        if (transport === 'sse' || transport === 'iframe') assert.ok(st.requests >= 3 && st.requests <= 5, `${transport}: ${st.requests} requests`);
        assert.deepEqual(trouble, [], transport);
      } finally {
        await s.stop();
      }
    }));
  });

  test('the windows of one browser share one connection; closing the leader hands it on with nothing lost or doubled', async (t) => {
    const s = await start();
    try {
      const context = await newContext();
      const url = await routeBlankPage(context, s.base);
      const pages: Page[] = [];
      for (let i = 0; i < 4; i++) {
        const page = await context.newPage();
        await page.goto(url);
        await recorder(page);
        pages.push(page);
      }
      for (let i = 1; i <= 3; i++) { s.push.publish('x', 'n', i); s.push.publish('y', 'n', i); }
      for (const page of pages) {
        await page.evaluate(() => {
          const w = globalThis as any;
          w.__sub('x', 'x', { since: 0 });
          w.__sub('y', 'y', { since: 1 });
        });
      }
      // A bound for a hung run, not a speed check (10 s was once reached with a full bench running beside).
      const subscribed = Date.now();
      try {
        for (const page of pages) await page.waitForFunction(() => (globalThis as any).__got.x.length >= 3 && (globalThis as any).__got.y.length >= 2, null, { timeout: 30_000, polling: 20 });
      } catch (err) {
        // What each page had, and what the server held: enough to tell a lost subscription from a stuck connection.
        const seen = await Promise.all(pages.map((p) => p.evaluate(() => {
          const w = globalThis as any;
          return { got: w.__got, x: w.__subs.x.stats, y: w.__subs.y.stats };
        }).catch((e: Error) => e.message)));
        throw new Error(`${(err as Error).message}\npages: ${JSON.stringify(seen)}\nserver: ${JSON.stringify(s.push.stats())}`);
      }
      t.diagnostic(`the four pages had their first messages after ${Date.now() - subscribed} ms`);
      // One WebSocket for the four pages, carrying both channels.
      await until(() => s.push.stats().connections === 1, 5000, 'one connection for the browser');
      assert.deepEqual([s.push.stats().websockets, s.push.stats().subscriptions], [1, 2]);
      const roles = await Promise.all(pages.map((p) => stats(p, 'x').then((st) => st.role)));
      assert.deepEqual(roles.slice().sort(), ['follower', 'follower', 'follower', 'leader']);
      const followerState = await stats(pages[roles.indexOf('follower')]!, 'x');
      assert.deepEqual([followerState.transport, followerState.state], ['websocket', 'open']);

      const traffic = pump(s, 'x');
      await new Promise((resolve) => setTimeout(resolve, 150));
      const leader = pages[roles.indexOf('leader')]!;
      const rest = pages.filter((p) => p !== leader);
      const closedAt = Date.now();
      await leader.close();
      // Bounds for a hung run; how fast a takeover is, `npm run bench` measures (its browser section).
      await until(async () => (await Promise.all(rest.map((p) => stats(p, 'x').then((st) => st.role)))).includes('leader'), 10_000, 'a new leader');
      await until(() => s.push.stats().websockets === 1 && s.push.stats().connections === 1, 10_000, 'the new leader connected');
      t.diagnostic(`takeover: ${Date.now() - closedAt} ms`);
      await new Promise((resolve) => setTimeout(resolve, 150));
      const pumped = traffic.stop();
      s.push.publish('x', 'end', null);
      s.push.publish('y', 'end', null);
      for (const page of rest) {
        assert.deepEqual(await waitForEnd(page, 'x'), range(1, 3 + pumped), 'x: every id once');
        assert.deepEqual(await waitForEnd(page, 'y'), [2, 3], 'y');
      }
      assert.equal(s.push.stats().subscriptions, 2);

      // A page that does not share has a connection of its own.
      await rest[0]!.evaluate(() => (globalThis as any).__sub('own', 'x', { share: false }));
      await until(() => s.push.stats().connections === 2, 5000, 'a second connection');
      assert.equal(await rest[0]!.evaluate(() => (globalThis as any).__subs.own.stats.role), 'alone');
    } finally {
      await s.stop();
    }
  });

  test('a window still electing when another\'s replay is relayed gets its own replay, not the tail of the other\'s', async () => {
    const s = await start();
    try {
      const context = await newContext();
      const url = await routeBlankPage(context, s.base);
      for (let i = 1; i <= 3; i++) s.push.publish('x', 'n', i);
      const leader = await context.newPage();
      await leader.goto(url);
      await recorder(leader);
      await leader.evaluate(() => (globalThis as any).__sub('x', 'x', { since: 3 }));
      await leader.waitForFunction(() => (globalThis as any).__subs.x.stats.role === 'leader' && (globalThis as any).__subs.x.stats.state === 'open', null, { timeout: 10_000, polling: 20 });

      // This window learns that another holds the connection only after it has heard
      // the first message the leader relays (and ignored it, not knowing its role yet).
      const late = await context.newPage();
      await late.addInitScript(() => {
        const w = globalThis as any;
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        const locks = w.navigator.locks;
        const request = locks.request.bind(locks);
        locks.request = (name: string, ...rest: any[]) => rest[0]?.ifAvailable
          ? request(name, rest[0], async (lock: unknown) => { await released; return rest[1](lock); })
          : request(name, ...rest);
        const Channel = w.BroadcastChannel;
        w.BroadcastChannel = class extends Channel {
          set onmessage(handler: (ev: MessageEvent) => void) {
            super.onmessage = (ev: MessageEvent) => {
              handler.call(this, ev);
              if (ev.data?.t === 'm' && w.__heardElecting === undefined) {
                w.__heardElecting = ev.data.m.id;
                release();
              }
            };
          }
        };
      });
      await late.goto(url);
      await recorder(late);
      await late.evaluate(() => (globalThis as any).__sub('x', 'x', { since: 0 }));

      // A third window joins from 0: the leader goes back for it, and relays ids 1, 2, 3.
      const other = await context.newPage();
      await other.goto(url);
      await recorder(other);
      await other.evaluate(() => (globalThis as any).__sub('x', 'x', { since: 0 }));
      await late.waitForFunction(() => (globalThis as any).__heardElecting !== undefined, null, { timeout: 10_000, polling: 20 });
      assert.equal(await late.evaluate(() => (globalThis as any).__heardElecting), 1, 'the electing window heard the first id of the other\'s replay');

      s.push.publish('x', 'end', null);
      assert.equal((await stats(late, 'x')).role, 'follower');
      assert.deepEqual(await waitForEnd(late, 'x'), [1, 2, 3], 'the window that was electing');
      assert.deepEqual(await waitForEnd(other, 'x'), [1, 2, 3], 'the window that joined');
      assert.deepEqual(await waitForEnd(leader, 'x'), [], 'the leader, from 3');
      assert.equal(s.push.stats().connections, 1);
    } finally {
      await s.stop();
    }
  });

  test('a reload after a gap that returns an older id: the connection goes back for the ids after it, on every technique and for a follower window', async () => {
    /** Subscribes to x from 9 (ahead of the server's 5: a gap), with an onGap whose state is at id 2. */
    const subscribeBehind = (page: Page, options: object) => page.evaluate((o) => {
      const w = globalThis as any;
      w.__got = [];
      w.__sub = w.pushwire.subscribe('x', (m: any) => w.__got.push(m.event === 'end' ? 'end' : m.id), {
        ...o, since: 9, onGap: async (last: number) => { w.__gapAt = last; return 2; },
      });
    }, options);
    const afterGap = async (s: Running, page: Page, label: string) => {
      await page.waitForFunction(() => (globalThis as any).__gapAt !== undefined, null, { timeout: 10_000, polling: 20 });
      assert.equal(await page.evaluate(() => (globalThis as any).__gapAt), 5, `${label}: the gap's id`);
      s.push.publish('x', 'n', 6);
      s.push.publish('x', 'end', null);
      await page.waitForFunction(() => (globalThis as any).__got.includes('end'), null, { timeout: 10_000, polling: 20 });
      assert.deepEqual(await page.evaluate(() => (globalThis as any).__got), [3, 4, 5, 6, 'end'], label);
    };
    const publishFive = (s: Running) => { for (let i = 1; i <= 5; i++) s.push.publish('x', 'n', i); };

    await Promise.all((['websocket', 'sse', 'iframe', 'longpoll', 'poll'] as const).map(async (transport) => {
      const s = await start();
      try {
        const page = await (await newContext()).newPage();
        await page.goto(await routeBlankPage(page.context(), s.base));
        publishFive(s);
        await subscribeBehind(page, { transport, share: false, pollInterval: 50, events: ['n', 'end'] });
        await afterGap(s, page, transport);
      } finally {
        await s.stop();
      }
    }));

    // A follower window: the gap is relayed to it, and its re-join from 2 makes the leader go back.
    const s = await start();
    try {
      const context = await newContext();
      const url = await routeBlankPage(context, s.base);
      publishFive(s);
      const leader = await context.newPage();
      await leader.goto(url);
      await leader.evaluate(() => { (globalThis as any).__y = (globalThis as any).pushwire.subscribe('y', () => {}, { since: 0 }); });
      await leader.waitForFunction(() => (globalThis as any).__y.stats.role === 'leader' && (globalThis as any).__y.stats.state === 'open', null, { timeout: 10_000, polling: 20 });
      const follower = await context.newPage();
      await follower.goto(url);
      await subscribeBehind(follower, {});
      await afterGap(s, follower, 'follower');
      assert.equal(await follower.evaluate(() => (globalThis as any).__sub.stats.role), 'follower');
      assert.equal(s.push.stats().connections, 1);
    } finally {
      await s.stop();
    }
  });

  test('without Web Locks each page has its own connection', async () => {
    const s = await start();
    try {
      const context = await newContext();
      await context.addInitScript(() => Object.defineProperty((globalThis as any).Navigator.prototype, 'locks', { get: () => undefined }));
      const url = await routeBlankPage(context, s.base);
      const pages = [await context.newPage(), await context.newPage()];
      for (const page of pages) {
        await page.goto(url);
        await recorder(page);
        await page.evaluate(() => (globalThis as any).__sub('x', 'x', {}));
      }
      await until(() => s.push.stats().websockets === 2, 5000, 'two connections');
      for (const page of pages) assert.equal((await stats(page, 'x')).role, 'alone');
      s.push.publish('x', 'end', null);
      for (const page of pages) assert.deepEqual(await waitForEnd(page, 'x'), []);
    } finally {
      await s.stop();
    }
  });

  test('a client that fell back to SSE moves back to WebSocket when upgrades work again, with nothing lost or doubled', async () => {
    const s = await start({ refuseUpgrades: true });
    try {
      const context = await newContext();
      const page = await context.newPage();
      await page.goto(await routeBlankPage(context, s.base));
      await recorder(page);
      await page.evaluate(() => (globalThis as any).__sub('x', 'x', { since: 0, retryMin: 50, upgradeInterval: 300 }));
      await page.waitForFunction(() => (globalThis as any).__subs.x.stats.transport === 'sse' && (globalThis as any).__subs.x.stats.state === 'open', null, { timeout: 10_000, polling: 20 });
      assert.equal((await stats(page, 'x')).fallbacks, 1);
      const traffic = pump(s, 'x');
      // Probes keep failing while upgrades are refused...
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await stats(page, 'x')).transport, 'sse');
      // ...and succeed once they are not.
      s.options.refuseUpgrades = false;
      await page.waitForFunction(() => (globalThis as any).__subs.x.stats.transport === 'websocket', null, { timeout: 10_000, polling: 20 });
      await until(() => s.push.stats().streams === 0 && s.push.stats().websockets === 1, 3000, 'the SSE stream let go');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const pumped = traffic.stop();
      s.push.publish('x', 'end', null);
      assert.deepEqual(await waitForEnd(page, 'x'), range(1, pumped));
      const st = await stats(page, 'x');
      assert.deepEqual([st.upgrades, st.fallbacks, st.state], [1, 1, 'open']);
    } finally {
      await s.stop();
    }
  });
});
