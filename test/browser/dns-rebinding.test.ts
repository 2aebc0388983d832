/**
 * DNS rebinding in Chromium (docs/PROTOCOL.md §6.3, "The Host check"): a page
 * of rebind.test, a name that now resolves to 127.0.0.1 (the browser's
 * --host-resolver-rules stand in for the attacker's DNS), calls the server at
 * its own origin: the browser sends `Host: rebind.test:PORT` and `Origin:
 * http://rebind.test:PORT`, which the Origin rule alone would take for the
 * server's own. The upgrade, the stream, the poll and the POSTs are refused
 * 403 and nothing is published; the same page at 127.0.0.1 is served.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext } from 'playwright-core';
import { startServer, type RunningServer } from '../app/helpers.js';
import { launchChromium, skip } from './chromium.js';

interface Attempts {
  emit: number; registration: number; poll: number; longpoll: number; sse: number;
  eventSource: string; websocket: string; error: string;
}

/** What the attacker's page tries, each with what it saw. */
const ATTACK = `async () => {
  const status = (p) => p.then((r) => r.status, () => -1);
  const text = { 'Content-Type': 'text/plain' };
  const out = {
    emit: await status(fetch('/push/emit', { method: 'POST', headers: text, body: JSON.stringify({ event: 'chat message', data: 'rebound' }) })),
    registration: await status(fetch('/api/registrations', { method: 'POST', headers: text, body: JSON.stringify({ name: 'rebound' }) })),
    poll: await status(fetch('/push/poll?channel=chat')),
    longpoll: await status(fetch('/push/longpoll?channel=chat&timeout=1')),
    sse: await status(fetch('/push/sse?channel=chat').then((r) => { r.body?.cancel(); return r; })),
    error: await fetch('/push/poll?channel=chat').then((r) => r.json()).then((j) => j.error, () => ''),
  };
  out.eventSource = await new Promise((resolve) => {
    const es = new EventSource('/push/sse?channel=chat');
    es.onopen = () => { es.close(); resolve('open'); };
    es.onerror = () => { es.close(); resolve('error'); };
  });
  out.websocket = await new Promise((resolve) => {
    const ws = new WebSocket(location.origin.replace('http', 'ws') + '/push/ws?channel=chat');
    ws.onopen = () => { ws.close(); resolve('open'); };
    ws.onclose = (ev) => resolve('closed ' + ev.code);
  });
  return out;
}`;

describe('DNS rebinding, in Chromium', { skip }, () => {
  let s: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  before(async () => {
    s = await startServer();
    browser = await launchChromium(['--host-resolver-rules=MAP rebind.test 127.0.0.1']);
    context = await browser.newContext();
    // The attacker's page, as its own server would have sent it before the name was rebound.
    await context.route(/\/attack\.html$/, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>attack</title>' }));
  });
  after(async () => {
    await browser?.close();
    await s?.stop();
  });

  async function attackFrom(origin: string): Promise<Attempts> {
    const page = await context.newPage();
    await page.goto(`${origin}/attack.html`);
    const seen = await page.evaluate(`(${ATTACK})()`) as Attempts;
    await page.close();
    return seen;
  }

  test('a page at a rebound name gets 403 on the POSTs, the polls, the stream and the upgrade; nothing is published', async () => {
    const seen = await attackFrom(`http://rebind.test:${s.port}`);
    assert.deepEqual(
      { emit: seen.emit, registration: seen.registration, poll: seen.poll, longpoll: seen.longpoll, sse: seen.sse },
      { emit: 403, registration: 403, poll: 403, longpoll: 403, sse: 403 },
    );
    assert.match(seen.error, /host/i);
    assert.equal(seen.eventSource, 'error');
    assert.equal(seen.websocket, 'closed 1006'); // refused before any handshake
    const chat = await (await fetch(`${s.base}/push/poll?channel=chat`)).json() as { messages: Array<{ data: unknown }> };
    assert.ok(!chat.messages.some((m) => m.data === 'rebound' || JSON.stringify(m.data).includes('rebound')), JSON.stringify(chat));
    const registrations = await (await fetch(`${s.base}/api/registrations`)).json() as { count?: number; registered?: number };
    assert.equal(JSON.stringify(registrations).includes('rebound'), false);
  });

  test('the same page at 127.0.0.1 is served (the check is the Host, not the page)', async () => {
    const seen = await attackFrom(s.base);
    assert.equal(seen.emit, 202);
    assert.equal(seen.poll, 200);
    assert.equal(seen.longpoll, 200);
    assert.equal(seen.sse, 200);
    assert.equal(seen.eventSource, 'open');
    assert.equal(seen.websocket, 'open');
  });
});
