/*! pushwire browser client (MIT); source: src/client/push.ts */
/**
 * pushwire's browser client, served as /push.js (and, as an ES module with
 * types, `pushwire/client`): one API over the five server-push techniques of
 * docs/PROTOCOL.md §3, with fallback, reconnection and exact resume. A classic
 * script with no dependencies:
 *
 *     <script src="/push.js"></script>
 *     pushwire.subscribe('chat', (m) => show(m.data));
 *     pushwire.emit('chat message', 'hello');
 *
 * One connection per browser, however many channels, pages and windows
 * (docs/PROTOCOL.md §4.6): the subscriptions of a page ride one connection
 * per server and technique order (core/hub.ts), the windows of an origin
 * share it (core/share.ts), and every message's channel and id say what a
 * listener has not seen yet (core/cursor.ts). This file gives the core the
 * browser: the five techniques (transports/), timers, fetch, Web Locks and
 * BroadcastChannel.
 */
import { createClient } from './core/client.js';
import { TRANSPORTS } from './core/subscription.js';
import type { Bus, Env, Locks, Windows } from './core/types.js';
import { callbacks, iframe } from './transports/iframe.js';
import { longpoll, poll } from './transports/poll.js';
import { sse } from './transports/sse.js';
import { openSocketTo, websocket } from './transports/websocket.js';

const windows: Windows | null =
  typeof BroadcastChannel === 'function' && typeof navigator.locks?.request === 'function'
    ? {
      bus: (name) => new BroadcastChannel(name) as unknown as Bus,
      locks: navigator.locks as unknown as Locks,
      onHide: (fn) => addEventListener('pagehide', fn),
      onRestore: (fn) => addEventListener('pageshow', (ev) => (ev as PageTransitionEvent).persisted && fn()),
    }
    : null;

const env: Env = {
  now: () => Date.now(),
  random: () => Math.random(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
  report: (err) => setTimeout(() => {
    throw err;
  }),
  get: (url) => fetch(url, { cache: 'no-store' }),
  connectors: { websocket, sse, iframe, longpoll, poll },
  windows,
  origin: location.origin,
};

/** `subscribe(channel, onMessage, options?)`: a Subscription (core/subscription.ts). */
const { subscribe } = createClient(env);

/**
 * Sends `{"event", "data"}` to the server: over an open WebSocket if this page
 * has one, else POST /push/emit (rejecting with the server's error on refusal).
 */
function emit(event: string, data: unknown, options: { base?: string } = {}): Promise<void> {
  const base = (options.base ?? location.origin).replace(/\/+$/, '');
  const body = JSON.stringify({ event, data: data === undefined ? null : data });
  const ws = openSocketTo(base);
  if (ws) {
    ws.send(body);
    return Promise.resolve();
  }
  return fetch(base + '/push/emit', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body }).then(async (res) => {
    if (res.status === 202) return;
    let error = 'HTTP ' + res.status;
    try {
      error = (await res.json()).error || error;
    } catch {
      // not JSON: keep the status
    }
    throw new Error(error);
  });
}

/** The client's API, as `pushwire` on the page; the iframe streams call `parent.pushwire.cb`. */
export const api = { TRANSPORTS, subscribe, emit, cb: callbacks };

// As an ES module (`pushwire/client`) a page may load this beside /push.js: one client for both.
(globalThis as { pushwire?: typeof api }).pushwire ??= api;
