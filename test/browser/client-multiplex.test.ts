import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page, Request as PwRequest, WebSocket as PwWebSocket } from 'playwright-core';
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
function pump(s: Running, channel: string, every = 8): { count(): number; stop(): number } {
  let n = 0;
  const timer = setInterval(() => { s.push.publish(channel, 'n', ++n); }, every);
  timer.unref();
  pumps.add(timer);
  return { count: () => n, stop() { clearInterval(timer); pumps.delete(timer); return n; } };
}

/** Waits until every page has got, on `name`, a message of id `id` or later: traffic that went through whatever connection it has now. */
async function gotUpTo(pages: Page[], name: string, id: number, ms = 10_000): Promise<void> {
  for (const page of pages) {
    await page.waitForFunction(([n, at]) => (globalThis as any).__got[n].some((x: unknown) => typeof x === 'number' && x >= at), [name, id] as const, { timeout: ms, polling: 20 });
  }
}

/** Installs a recorder in the page: `__sub(name, channel, options)` keeps every message id (and gap) per name. */
async function recorder(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = globalThis as any;
    w.__got = {};
    w.__subs = {};
    w.__channelOf = {};
    w.__sinceOf = {};
    w.__sub = (name: string, channel: string, options: { since?: number }) => {
      w.__got[name] = [];
      w.__channelOf[name] = channel;
      w.__sinceOf[name] = options.since;
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

/** A channel set with its cursors, as a connection carries it (`channels=a@12,c@7`, docs/PROTOCOL.md §3.11). */
type Cursors = Record<string, number>;

/** One thing a page's connection carried: a request's channels, or a WebSocket's after a change in band; `phase` counts the test's changes made before it. */
interface Carried {
  cursors: Cursors;
  phase: number;
}

function parseChannels(url: string): Cursors {
  const spec = /[?&]channels=([^&#]*)/.exec(url)?.[1];
  const out: Cursors = {};
  if (spec === undefined) return out;
  for (const entry of spec.split(',')) {
    const at = entry.lastIndexOf('@');
    out[decodeURIComponent(at < 0 ? entry : entry.slice(0, at))] = at < 0 ? NaN : Number(entry.slice(at + 1));
  }
  return out;
}

function showCursors(c: Cursors): string {
  return Object.entries(c).map(([name, at]) => `${name}@${at}`).join(',') || '(none)';
}

/**
 * Installs, before any script of the page, a recorder of the page's polls (short and long):
 * each request's URL, the cursors of the page's subscriptions when it is made, how many
 * polls were in flight with it, and how it ended. Recorded in the page, where the order of
 * requests and answers is exact; test marks go in the same log (`__mark`).
 */
async function recordPolls(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const w = globalThis as any;
    const log: any[] = (w.__log = []);
    w.__mark = (name: string) => log.push({ mark: name });
    let open = 0;
    const original = w.fetch;
    w.fetch = function (input: any, init?: any) {
      const url = new URL(typeof input === 'string' ? input : String(input.url ?? input), w.location.href);
      if (!/^\/push\/(long)?poll$/.test(url.pathname) || !url.searchParams.has('channels')) return original.call(this, input, init);
      // The cursors of the page's subscriptions, by channel: what the request should ask from.
      const have: Record<string, number[]> = {};
      for (const [name, channel] of Object.entries(w.__channelOf ?? {}) as Array<[string, string]>) {
        (have[channel] ??= []).push(w.__subs?.[name]?.stats.lastId ?? w.__sinceOf[name]);
      }
      const entry: any = { url: url.pathname + url.search, have, open: ++open, end: undefined };
      log.push(entry);
      const end = (how: string) => {
        if (entry.end) return;
        entry.end = how;
        open--;
      };
      // An abort ends the request at once: a re-opened poll may start in the same task.
      init?.signal?.addEventListener('abort', () => end('aborted'), { once: true });
      const p = original.call(this, input, init);
      // A poll is answered in one piece (docs/PROTOCOL.md §3.3, §3.4): its response is its answer.
      p.then(() => end('answered'), () => end('failed'));
      return p;
    };
  });
}

interface PollEntry { url: string; have: Record<string, number[]>; open: number; end?: string }

/** The page's poll log, as what its connection carried, plus the polls themselves. */
async function readPolls(page: Page): Promise<{ carried: Carried[]; polls: PollEntry[] }> {
  const log: Array<PollEntry | { mark: string }> = await page.evaluate(() => (globalThis as any).__log);
  const carried: Carried[] = [];
  const polls: PollEntry[] = [];
  let phase = 0;
  for (const e of log) {
    if ('mark' in e) phase++;
    else {
      polls.push(e);
      carried.push({ cursors: parseChannels(e.url), phase });
    }
  }
  return { carried, polls };
}

/** Records, from outside the page, the stream requests it opens on `path` (SSE, iframe) and whether each has ended. */
function recordStreams(page: Page, path: string) {
  const log: Array<{ mark: string } | { url: string; request: PwRequest; ended: boolean }> = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === path) log.push({ url: request.url(), request, ended: false });
  });
  const ended = (request: PwRequest) => {
    for (const e of log) if ('request' in e && e.request === request) e.ended = true;
  };
  page.on('requestfinished', ended);
  page.on('requestfailed', ended);
  return {
    mark(name: string) { log.push({ mark: name }); },
    streams() { return log.filter((e): e is { url: string; request: PwRequest; ended: boolean } => 'request' in e); },
    carried(): Carried[] {
      let phase = 0;
      const out: Carried[] = [];
      for (const e of log) {
        if ('mark' in e) phase++;
        else out.push({ cursors: parseChannels(e.url), phase });
      }
      return out;
    },
  };
}

/** A WebSocket a page opened, seen from outside it: its URL and the text frames it sent, each with the phase (marks before it). */
interface SocketSeen {
  page: Page;
  ws: PwWebSocket;
  url: string;
  phase: number;
  frames: Array<{ phase: number; payload: string }>;
}

/** Closed, or gone with its page (Playwright reports no close for the sockets of a page that closes). */
function closed(socket: SocketSeen): boolean {
  return socket.ws.isClosed() || socket.page.isClosed();
}

/** Records the WebSockets of every page it watches (`watch` before the page loads anything), in the order they open. */
function recordWebSockets() {
  const sockets: SocketSeen[] = [];
  let phase = 0;
  return {
    sockets,
    watch(page: Page): Page {
      page.on('websocket', (ws) => {
        const seen: SocketSeen = { page, ws, url: ws.url(), phase, frames: [] };
        sockets.push(seen);
        ws.on('framesent', (f) => { if (typeof f.payload === 'string') seen.frames.push({ phase, payload: f.payload }); });
      });
      return page;
    },
    mark(_name: string) { phase++; },
    /** The sockets of `page` (all pages if none) that have not closed. */
    open(page?: Page): SocketSeen[] { return sockets.filter((x) => !closed(x) && (!page || x.page === page)); },
    of(page: Page): SocketSeen[] { return sockets.filter((x) => x.page === page); },
    /** What the sockets carried, in order: the channels of each URL, then each change in band. */
    carried(): Carried[] { return sockets.flatMap(carriedBy); },
  };
}

/**
 * What a WebSocket carried: the channels of its URL, then every push:subscribe and
 * push:unsubscribe it sent in band (docs/PROTOCOL.md §3.7, §3.11). An unsubscribe followed
 * by a subscribe of the same channel is one change: going back to an older cursor.
 */
function carriedBy(socket: SocketSeen): Carried[] {
  let now = parseChannels(socket.url);
  const out: Carried[] = [{ cursors: now, phase: socket.phase }];
  const frames = socket.frames.map(({ phase, payload }) => {
    try {
      const { event, data } = JSON.parse(payload) as { event: string; data: { channel: string; since?: number } };
      return { phase, event, data };
    } catch {
      return null;
    }
  });
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    if (!f || (f.event !== 'push:subscribe' && f.event !== 'push:unsubscribe')) continue;
    const next = frames[i + 1];
    if (f.event === 'push:unsubscribe' && next?.event === 'push:subscribe' && next.data.channel === f.data.channel) continue;
    now = { ...now };
    if (f.event === 'push:unsubscribe') delete now[f.data.channel];
    else now[f.data.channel] = f.data.since ?? NaN;
    out.push({ cursors: now, phase: f.phase });
  }
  return out;
}

/** The channels a WebSocket carries after everything it sent, sorted: `x,y`. */
function channelsOf(socket: SocketSeen): string {
  return Object.keys(carriedBy(socket).at(-1)!.cursors).sort().join();
}

/**
 * What the page's one connection carried, change by change, in the first test: a and b
 * from 0 (phase 0); c joins from 1 (phase 1); a second subscription of a from 1 (phase 2);
 * b leaves (phase 3). Each channel from its subscription's cursor, kept until it is
 * dropped, never carried before it is subscribed nor after it is dropped.
 */
function checkCarried(label: string, carried: Carried[]): void {
  const trail = carried.map((c) => `${c.phase}:${showCursors(c.cursors)}`).join(' ');
  const fail = (why: string): never => assert.fail(`${label}: ${why}\ncarried (phase:channels): ${trail}`);
  const since: Cursors = { a: 0, b: 0, c: 1 };
  const subscribedIn: Cursors = { a: 0, b: 0, c: 1 };
  const dropped = new Set<string>();
  let before: Cursors | undefined;
  for (const { cursors, phase } of carried) {
    for (const [name, at] of Object.entries(cursors)) {
      if (!(name in subscribedIn) || phase < subscribedIn[name]!) fail(`${name} carried before it was subscribed`);
      if (dropped.has(name)) fail(`${name} carried again after it was dropped`);
      const was = before?.[name];
      if (was === undefined) {
        if (at !== since[name]) fail(`${name} first carried from ${at}, not from its subscription's ${since[name]}`);
      } else if (!(at >= was) && !(name === 'a' && phase >= 2 && at === 1)) {
        // Back only where a new subscription starts: the second of a, from 1.
        fail(`${name} went back from ${was} to ${at}`);
      }
    }
    for (const name of Object.keys(before ?? {})) {
      if (name in cursors) continue;
      if (name !== 'b' || phase < 3) fail(`${name} dropped while subscribed`);
      dropped.add(name);
    }
    before = cursors;
  }
  for (const names of ['a,b', 'a,b,c', 'a,c']) {
    if (!carried.some((c) => Object.keys(c.cursors).sort().join() === names)) fail(`never carried exactly ${names}`);
  }
  if (!carried.some((c) => c.phase >= 2 && c.cursors.a === 1)) fail('never went back to a@1 for the second subscription of a');
  if (Object.keys(before ?? {}).sort().join() !== 'a,c') fail('the last carried is not a and c');
}

/** Polls: one in flight at a time, each asking every channel from where the page's subscriptions of it are. */
function checkPolls(label: string, path: string, polls: PollEntry[]): void {
  assert.ok(polls.length > 0, `${label}: no polls seen`);
  for (const p of polls) {
    const where = `${label}: ${p.url}`;
    assert.equal(p.url.split('?')[0], path, where);
    assert.equal(p.open, 1, `${where}: ${p.open} polls in flight at once`);
    for (const [name, at] of Object.entries(parseChannels(p.url))) {
      // One subscription: exactly its cursor; two (a and a2): between the two.
      const have = p.have[name] ?? [];
      assert.ok(have.length > 0 && at >= Math.min(...have) && at <= Math.max(...have), `${where}: asks ${name}@${at}, the page's subscriptions of ${name} are at ${have.join(', ')}`);
    }
  }
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
        const polling = transport === 'longpoll' || transport === 'poll';
        // What the page's connection carries, seen in its requests, not in a server gauge sampled
        // at a moment: a long poll that finds news is answered at once (docs/PROTOCOL.md §3.4), so
        // under traffic none is held long enough to be seen.
        if (polling) await recordPolls(context);
        const page = await context.newPage();
        const streams = transport === 'sse' || transport === 'iframe' ? recordStreams(page, `/push/${transport}`) : undefined;
        const sockets = transport === 'websocket' ? recordWebSockets() : undefined;
        sockets?.watch(page);
        const carried = async (): Promise<Carried[]> => (polling ? (await readPolls(page)).carried : (streams ?? sockets)!.carried());
        /** Marks a change the test is about to make, in the recorders outside the page (the page's own, for polls, is marked in the change's evaluate). */
        const mark = (name: string) => {
          streams?.mark(name);
          sockets?.mark(name);
          return name;
        };
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
        const traffic = pump(s, 'a');
        // A third channel joins, from an old cursor, while 'a' is busy...
        await page.evaluate(([m, o]) => {
          (globalThis as any).__mark?.(m);
          (globalThis as any).__sub('c', 'c', { ...o, since: 1 });
        }, [mark('c joins'), options] as const);
        await page.waitForFunction(() => (globalThis as any).__got.c.length >= 1, null, { timeout: 10_000, polling: 20 });
        // ...and a second listener of 'a' from an old cursor: the connection goes back for it
        // (in band on a WebSocket) while 'a' is busy, and it gets every id after its cursor.
        await page.evaluate(([m, o]) => {
          (globalThis as any).__mark?.(m);
          (globalThis as any).__sub('a2', 'a', { ...o, since: 1 });
        }, [mark('a2 joins'), options] as const);
        await page.waitForFunction(() => (globalThis as any).__got.a2.length >= 1, null, { timeout: 10_000, polling: 20 });
        // ...and one leaves.
        await page.evaluate((m) => {
          (globalThis as any).__mark?.(m);
          (globalThis as any).__subs.b.close();
        }, mark('b leaves'));
        // The log only grows: once the connection has carried a and c alone, that stays seen (5 s: a bound for a hung run).
        await until(async () => (await carried()).some((c) => c.phase >= 3 && Object.keys(c.cursors).sort().join() === 'a,c'), 5000, `${transport}: the connection carries a and c alone`);
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

        checkCarried(transport, await carried());
        if (polling) checkPolls(transport, `/push/${transport}`, (await readPolls(page)).polls);
        if (streams) {
          // One stream at a time: each re-open lets the one before go (a bound for a hung run).
          await until(() => streams.streams().slice(0, -1).every((r) => r.ended), 10_000, `${transport}: every stream but the last let go`);
          assert.equal(streams.streams().at(-1)?.ended, false, `${transport}: the last stream is still open`);
          // The others re-open with every cursor: for a and b, for c, for a2, without b.
          assert.ok(st.requests >= 3 && st.requests <= 5, `${transport}: ${st.requests} requests`);
        }
        if (sockets) {
          // A WebSocket changes its channels in band.
          assert.equal(sockets.sockets.length, 1, 'one WebSocket for everything');
          assert.equal(sockets.sockets[0]!.ws.isClosed(), false, 'the WebSocket is still open');
          assert.equal(st.requests, 1, 'one WebSocket for everything');
        }
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
      const sockets = recordWebSockets();
      const pages: Page[] = [];
      for (let i = 0; i < 4; i++) {
        const page = sockets.watch(await context.newPage());
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
      const roles = await Promise.all(pages.map((p) => stats(p, 'x').then((st) => st.role)));
      assert.deepEqual(roles.slice().sort(), ['follower', 'follower', 'follower', 'leader']);
      const leader = pages[roles.indexOf('leader')]!;
      const rest = pages.filter((p) => p !== leader);
      // One WebSocket for the four pages, the leader's, carrying both channels (the messages
      // the pages have came through it, so its opening and frames have been seen).
      assert.deepEqual(sockets.sockets.map((x) => pages.indexOf(x.page)), [pages.indexOf(leader)], 'one WebSocket, opened by the leader');
      assert.equal(channelsOf(sockets.sockets[0]!), 'x,y');
      const followerState = await stats(rest[0]!, 'x');
      assert.deepEqual([followerState.transport, followerState.state], ['websocket', 'open']);

      // Traffic across the takeover: every page has had some before the leader goes.
      const traffic = pump(s, 'x');
      await gotUpTo(pages, 'x', 3 + 5);
      const closedAt = Date.now();
      await leader.close();
      // Bounds for a hung run; how fast a takeover is, `npm run bench` measures (its browser section).
      await until(async () => (await Promise.all(rest.map((p) => stats(p, 'x').then((st) => st.role)))).includes('leader'), 10_000, 'a new leader');
      const newLeader = rest[(await Promise.all(rest.map((p) => stats(p, 'x').then((st) => st.role)))).indexOf('leader')]!;
      await until(() => sockets.open(newLeader).length === 1, 10_000, 'the new leader\'s WebSocket');
      t.diagnostic(`takeover: ${Date.now() - closedAt} ms`);
      // ...and after it: messages published once the new WebSocket is open reach every page.
      await gotUpTo(rest, 'x', 3 + traffic.count() + 1);
      const pumped = traffic.stop();
      s.push.publish('x', 'end', null);
      s.push.publish('y', 'end', null);
      for (const page of rest) {
        assert.deepEqual(await waitForEnd(page, 'x'), range(1, 3 + pumped), 'x: every id once');
        assert.deepEqual(await waitForEnd(page, 'y'), [2, 3], 'y');
      }
      // Two WebSockets in all: the first leader's, gone with its page, and the new leader's, with both channels.
      assert.deepEqual(sockets.sockets.map((x) => [pages.indexOf(x.page), closed(x)]), [[pages.indexOf(leader), true], [pages.indexOf(newLeader), false]]);
      assert.equal(channelsOf(sockets.sockets[1]!), 'x,y');

      // A page that does not share has a connection of its own.
      const own = rest.find((p) => p !== newLeader)!;
      await own.evaluate(() => (globalThis as any).__sub('own', 'x', { share: false }));
      await until(() => sockets.open(own).length === 1, 5000, 'a WebSocket of its own');
      assert.equal(await own.evaluate(() => (globalThis as any).__subs.own.stats.role), 'alone');
      assert.deepEqual(sockets.open().map((x) => pages.indexOf(x.page)), [pages.indexOf(newLeader), pages.indexOf(own)]);
    } finally {
      await s.stop();
    }
  });

  test('a window still electing when another\'s replay is relayed gets its own replay, not the tail of the other\'s', async () => {
    const s = await start();
    try {
      const context = await newContext();
      const url = await routeBlankPage(context, s.base);
      const sockets = recordWebSockets();
      for (let i = 1; i <= 3; i++) s.push.publish('x', 'n', i);
      const leader = sockets.watch(await context.newPage());
      await leader.goto(url);
      await recorder(leader);
      await leader.evaluate(() => (globalThis as any).__sub('x', 'x', { since: 3 }));
      await leader.waitForFunction(() => (globalThis as any).__subs.x.stats.role === 'leader' && (globalThis as any).__subs.x.stats.state === 'open', null, { timeout: 10_000, polling: 20 });

      // This window learns that another holds the connection only after it has heard
      // the first message the leader relays (and ignored it, not knowing its role yet).
      const late = sockets.watch(await context.newPage());
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
      const other = sockets.watch(await context.newPage());
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
      // The end came through it: one WebSocket for the three windows, the leader's, still open.
      assert.deepEqual(sockets.sockets.map((x) => [x.page === leader, x.ws.isClosed()]), [[true, false]]);
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
      const sockets = recordWebSockets();
      const leader = sockets.watch(await context.newPage());
      await leader.goto(url);
      await leader.evaluate(() => { (globalThis as any).__y = (globalThis as any).pushwire.subscribe('y', () => {}, { since: 0 }); });
      await leader.waitForFunction(() => (globalThis as any).__y.stats.role === 'leader' && (globalThis as any).__y.stats.state === 'open', null, { timeout: 10_000, polling: 20 });
      const follower = sockets.watch(await context.newPage());
      await follower.goto(url);
      await subscribeBehind(follower, {});
      await afterGap(s, follower, 'follower');
      assert.equal(await follower.evaluate(() => (globalThis as any).__sub.stats.role), 'follower');
      assert.deepEqual(sockets.sockets.map((x) => [x.page === leader, x.ws.isClosed()]), [[true, false]], 'one WebSocket, the leader\'s');
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
      const sockets = recordWebSockets();
      const pages = [sockets.watch(await context.newPage()), sockets.watch(await context.newPage())];
      for (const page of pages) {
        await page.goto(url);
        await recorder(page);
        await page.evaluate(() => (globalThis as any).__sub('x', 'x', {}));
      }
      for (const page of pages) await page.waitForFunction(() => (globalThis as any).__subs.x.stats.state === 'open', null, { timeout: 10_000, polling: 20 });
      for (const page of pages) assert.equal((await stats(page, 'x')).role, 'alone');
      s.push.publish('x', 'end', null);
      for (const page of pages) assert.deepEqual(await waitForEnd(page, 'x'), []);
      // Each page got the end through a WebSocket of its own.
      for (const page of pages) assert.deepEqual(sockets.of(page).map((x) => x.ws.isClosed()), [false], `page ${pages.indexOf(page) + 1}: one WebSocket, open`);
    } finally {
      await s.stop();
    }
  });

  test('a client that fell back to SSE moves back to WebSocket when upgrades work again, with nothing lost or doubled', async () => {
    const s = await start({ refuseUpgrades: true });
    try {
      const context = await newContext();
      const page = await context.newPage();
      const sockets = recordWebSockets();
      sockets.watch(page);
      const streams = recordStreams(page, '/push/sse');
      await page.goto(await routeBlankPage(context, s.base));
      await recorder(page);
      await page.evaluate(() => (globalThis as any).__sub('x', 'x', { since: 0, retryMin: 50, upgradeInterval: 300 }));
      await page.waitForFunction(() => (globalThis as any).__subs.x.stats.transport === 'sse' && (globalThis as any).__subs.x.stats.state === 'open', null, { timeout: 10_000, polling: 20 });
      assert.equal((await stats(page, 'x')).fallbacks, 1);
      const traffic = pump(s, 'x');
      // Probes keep failing while upgrades are refused: two more WebSockets tried and closed...
      const triedBefore = sockets.sockets.length;
      await until(() => sockets.sockets.slice(triedBefore).filter((x) => x.ws.isClosed()).length >= 2, 10_000, 'two probes refused');
      assert.equal((await stats(page, 'x')).transport, 'sse');
      // ...and succeed once they are not.
      s.options.refuseUpgrades = false;
      await page.waitForFunction(() => (globalThis as any).__subs.x.stats.transport === 'websocket', null, { timeout: 10_000, polling: 20 });
      await until(() => streams.streams().length > 0 && streams.streams().every((r) => r.ended), 3000, 'the SSE stream let go');
      // Messages published once the WebSocket carries the subscription come through it.
      await gotUpTo([page], 'x', traffic.count() + 1);
      const pumped = traffic.stop();
      s.push.publish('x', 'end', null);
      assert.deepEqual(await waitForEnd(page, 'x'), range(1, pumped));
      const st = await stats(page, 'x');
      assert.deepEqual([st.upgrades, st.fallbacks, st.state], [1, 1, 'open']);
      // Every probe but the last was refused and closed; the last carries the subscription.
      assert.deepEqual(sockets.open(), [sockets.sockets.at(-1)], 'one WebSocket open, the last');
      assert.equal(channelsOf(sockets.sockets.at(-1)!), 'x');
    } finally {
      await s.stop();
    }
  });
});
