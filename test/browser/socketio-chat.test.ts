import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import fs from 'node:fs';
import { launchChromium, skip, until } from './chromium.js';
import { closeClients, Collector, connectSocket, cut, startPushwire, type Running } from '../socketio/helpers.js';

/**
 * The seed's Socket.IO chat page, as the seed writes it, served by pushwire
 * (with pushwire's own /socket.io/socket.io.js) in Debian's chromium: it
 * chats with socket.io-client 4 in Node and with the demo page on /push.js,
 * upgrades to WebSocket, and recovers after a cut.
 */
describe("the seed's Socket.IO chat page in Chromium", { skip, timeout: 60_000 }, () => {
  let browser: Browser;
  let running: Running;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const logged: string[] = [];
  /** Engine.IO close packets sent over polling, as `status body`. */
  const closePosts: string[] = [];
  let seedPage: Page;

  before(async () => {
    running = await startPushwire();
    browser = await launchChromium();
  }, { timeout: 30_000 });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    closeClients();
    await running?.stop();
  }, { timeout: 20_000 });

  async function open(path: string): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      if (page === seedPage && m.type() === 'log') logged.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`);
      // The close packet `1`, alone or last of a batch (packets are joined by the record separator).
      const body = r.request().method() === 'POST' ? r.request().postData() ?? '' : '';
      if (body === '1' || body.endsWith('\x1e1')) closePosts.push(`${r.status()} ${JSON.stringify(body)}`);
    });
    await page.goto(running.base + path);
    return page;
  }

  test('the page, verbatim, connects with io() and upgrades to WebSocket, with no console error', async () => {
    seedPage = await open('/socketio-chat.html');
    const html = fs.readFileSync(new URL('../../../src/app/public/socketio-chat.html', import.meta.url), 'utf8');
    // The seed's own lines are in the page as the seed writes them.
    for (const line of ['<script src="/socket.io/socket.io.js"></script>', "  var socket = io();", " socket.emit('chat message', $('#m').val());", " socket.on('chat message', function(msg){", '    console.log(msg);']) {
      assert.ok(html.includes(line), line);
    }
    await seedPage.waitForFunction(() => (globalThis as any).socket.connected === true, null, { timeout: 10_000, polling: 20 });
    await seedPage.waitForFunction(() => (globalThis as any).socket.io.engine?.transport === 'websocket', null, { timeout: 10_000, polling: 20 });
    const id = await seedPage.evaluate(() => (globalThis as any).socket.id as string);
    const serverSide = running.server.io.sockets.sockets.get(id);
    assert.ok(serverSide, 'the server knows the page by its socket id');
    assert.equal(serverSide.conn.transport.name, 'websocket');
    assert.deepEqual(problems, []);
  });

  test('it chats with socket.io-client in Node and with the /push.js demo page, both ways', async () => {
    const node = await connectSocket(running.base);
    const atNode = new Collector<string>(node, 'chat message');
    const demo = await open('/');
    await demo.waitForSelector('#main-transport >> text=WebSocket (open)', { timeout: 10_000 });

    node.emit('chat message', 'hello from Node');
    await seedPage.waitForSelector('#messages li >> text=hello from Node', { timeout: 5000 });
    await demo.waitForSelector('#chat-log li >> text=hello from Node', { timeout: 5000 });
    assert.ok(logged.includes('hello from Node'), "the seed's handler logged it");

    await seedPage.fill('#m', 'hello from the seed page');
    await seedPage.press('#m', 'Enter');
    await demo.waitForSelector('#chat-log li >> text=hello from the seed page', { timeout: 5000 });
    await seedPage.waitForSelector('#messages li >> text=hello from the seed page', { timeout: 5000 });
    assert.ok((await atNode.waitFor(2)).includes('hello from the seed page'));

    await demo.fill('#chat-input', 'hello from push.js');
    await demo.press('#chat-input', 'Enter');
    await seedPage.waitForSelector('#messages li >> text=hello from push.js', { timeout: 5000 });
    assert.ok((await atNode.waitFor(3)).includes('hello from push.js'));
    assert.deepEqual(problems, []);
  });

  test('its io() works over polling only and WebSocket only, with acknowledgements and binary', async () => {
    running.server.io.on('connection', (socket) => {
      socket.on('echo', (...args: unknown[]) => (args.pop() as (...a: unknown[]) => void)(...args));
    });
    for (const transports of [['polling'], ['websocket']]) {
      const result = await seedPage.evaluate(async (t) => {
        const s = (globalThis as any).io({ transports: t, forceNew: true });
        await new Promise((resolve) => s.on('connect', resolve));
        const text = await s.emitWithAck('echo', 'ping');
        const bytes = await s.emitWithAck('echo', new Uint8Array([1, 2, 255]));
        const transport = s.io.engine.transport;
        s.disconnect();
        return { text, bytes: Array.from(new Uint8Array(bytes)), transport };
      }, transports);
      assert.deepEqual(result, { text: 'ping', bytes: [1, 2, 255], transport: transports[0] });
    }
    // The polling socket's disconnect ends with a close packet in a POST: answered 200 (the held
    // poll is let go only after it; dropped first, it would end the session and the close get 400).
    await until(() => closePosts.length > 0, 5000, 'the close POST answered');
    assert.deepEqual(closePosts, ['200 "1"']);
    assert.deepEqual(problems, []);
  });

  test('cut from the server, it reconnects and recovers what it missed', async () => {
    const id = await seedPage.evaluate(() => (globalThis as any).socket.id as string);
    const serverSide = running.server.io.sockets.sockets.get(id)!;
    // Cut the WebSocket, once the upgrade is done on both sides. (A session cut while it
    // still polls answers the page's next poll 400 "unknown sid", as Engine.IO does.)
    await seedPage.waitForFunction(() => (globalThis as any).socket.io.engine.transport === 'websocket', null, { timeout: 10_000, polling: 20 });
    await until(() => serverSide.conn.transport.name === 'websocket', 10_000, 'the server side of the upgrade');
    const gone = new Promise((resolve) => serverSide.once('disconnect', resolve));
    cut(serverSide);
    await gone;
    running.server.push.publish('chat', 'chat message', 'said while the page was away');
    await seedPage.waitForSelector('#messages li >> text=said while the page was away', { timeout: 10_000 });
    assert.equal(await seedPage.evaluate(() => (globalThis as any).socket.recovered), true);
    assert.equal(await seedPage.evaluate(() => (globalThis as any).socket.id), id);
    assert.deepEqual(problems, []);
  });
});
