/**
 * The demo page (served as /page.js): the live sign-up counter, the chat, and
 * one panel per technique, all on the client of push.ts. The counter and the
 * chat share the browser's one connection with every other window; the
 * panels, which each hold a connection of their own on purpose, run in one
 * window at a time.
 */
import type { Role, Subscription, Transport } from './core/types.js';
import type { api } from './push.js';

/** /push.js, loaded before this script. */
declare const pushwire: typeof api;

interface CountData { count: number; capacity: number }
interface State extends CountData { last: number }
/** What each subscription saw, in order: read by the browser tests to check for loss and doubles. */
interface Seen { kind: 'message' | 'reload'; id: number; count: number }
interface Panel {
  transport: Transport;
  element: HTMLElement;
  sub: Subscription | null;
  /** Stats of earlier (paused) subscriptions, so the figures keep adding up. */
  carried: { requests: number; bytes: number; messages: number };
  since: number;
  count: number | null;
  /** When its last update arrived, and which count it carried. */
  lastAt: number;
  lastCount: number;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const NAMES: Record<Transport, string> = {
  websocket: 'WebSocket',
  sse: 'Server-Sent Events',
  iframe: 'iframe streaming',
  longpoll: 'long polling',
  poll: 'short polling',
};
const ROLES: Record<Role, string> = {
  alone: '',
  leader: ', held by this window for every window of this browser',
  follower: ', shared with the window that holds it',
};
// ?poll=MS changes the short-polling period; ?stall=MS how long a silent stream is trusted.
const query = new URLSearchParams(location.search);
const pollInterval = Number(query.get('poll')) || 2000;
const stallTimeout = Number(query.get('stall')) || undefined;

const seen: Record<string, Seen[]> = {};
/** The id of every chat message shown, in order (for the same checks). */
const chatIds: number[] = [];
/** count → when it first reached this page, and when this page's own click made it. */
const firstSeen = new Map<number, number>();
const clickedAt = new Map<number, number>();
let shown = -1;
let capacity = 0;
let pendingClick = 0;

const panels: Panel[] = [...document.querySelectorAll<HTMLElement>('.panel')].map((element) => ({
  transport: element.dataset.transport as Transport,
  element,
  sub: null,
  carried: { requests: 0, bytes: 0, messages: 0 },
  since: 0,
  count: null,
  lastAt: 0,
  lastCount: 0,
}));
const subs: Record<string, Subscription> = {};
/** Whether this window runs the panels (without Web Locks every window does, as each has its own). */
let panelsHere = !navigator.locks;
/** Known yet (the lock is asked for at once, but answered asynchronously). */
let panelsDecided = !navigator.locks;
(window as unknown as { pushwireDemo: object }).pushwireDemo = { seen, chatIds, subs, panels, panelsHere: () => panelsHere };

function note(label: string, entry: Seen): void {
  (seen[label] ??= []).push(entry);
}

function arrived(count: number): number {
  const now = performance.now();
  if (!firstSeen.has(count)) firstSeen.set(count, now);
  return now;
}

async function loadState(): Promise<State> {
  const res = await fetch('/api/registrations', { cache: 'no-store' });
  if (!res.ok) throw new Error('GET /api/registrations: HTTP ' + res.status);
  return res.json();
}

// ---- the counter --------------------------------------------------------

function showCount(data: CountData): void {
  // Counts only grow; the POST answer and the pushed message may arrive in either order.
  if (data.count <= shown && data.capacity === capacity) return;
  shown = Math.max(shown, data.count);
  capacity = data.capacity;
  byId('count').textContent = String(shown);
  byId('capacity').textContent = String(capacity);
  const bar = byId('bar');
  bar.setAttribute('aria-valuemax', String(capacity));
  bar.setAttribute('aria-valuenow', String(shown));
  byId('bar-fill').style.width = `${Math.min(100, (100 * shown) / capacity)}%`;
  const soldOut = shown >= capacity;
  byId('signup').classList.toggle('sold', soldOut);
  byId('sold-out').hidden = !soldOut;
  byId<HTMLInputElement>('name').disabled = soldOut;
  byId<HTMLButtonElement>('signup-button').disabled = soldOut || pendingClick > 0;
}

function followCount(state: State): void {
  subs.main = pushwire.subscribe(
    'registrations',
    (m) => {
      const data = m.data as CountData;
      arrived(data.count);
      note('main', { kind: 'message', id: m.id, count: data.count });
      showCount(data);
    },
    {
      since: state.last,
      events: ['count'],
      stallTimeout,
      onGap: async () => {
        const fresh = await loadState();
        note('main', { kind: 'reload', id: fresh.last, count: fresh.count });
        showCount(fresh);
        return fresh.last;
      },
      onStatus: (stats) => {
        byId('main-transport').textContent = `${NAMES[stats.transport]} (${stats.state})`;
        byId('main-role').textContent = ROLES[stats.role];
      },
    },
  );
}

function setStatus(id: string, text: string, kind: 'ok' | 'error' | '' = ''): void {
  const element = byId(id);
  element.textContent = text;
  element.className = 'status' + (kind ? ' ' + kind : '');
}

byId<HTMLFormElement>('signup-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = byId<HTMLInputElement>('name');
  const name = input.value;
  const started = performance.now();
  pendingClick++;
  byId<HTMLButtonElement>('signup-button').disabled = true;
  try {
    const res = await fetch('/api/registrations', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.status === 201) {
      clickedAt.set(body.count, started);
      setStatus('signup-status', `You're in, ${name.trim()}: place ${body.count} of ${body.capacity}.`, 'ok');
      input.value = '';
      showCount(body);
      renderPanels();
    } else if (res.status === 409 && body.error === 'full') {
      setStatus('signup-status', 'Sorry, every place is taken.', 'error');
    } else if (res.status === 409) {
      setStatus('signup-status', `“${name.trim()}” is already registered.`, 'error');
    } else {
      setStatus('signup-status', body.error ? `Not accepted: ${body.error}.` : `The server answered ${res.status}.`, 'error');
    }
  } catch {
    setStatus('signup-status', 'The server cannot be reached; try again in a moment.', 'error');
  } finally {
    pendingClick--;
    byId<HTMLButtonElement>('signup-button').disabled = shown >= capacity || pendingClick > 0;
  }
});

// ---- the chat -----------------------------------------------------------

function addChat(text: string, notice = false): void {
  const log = byId('chat-log');
  const item = document.createElement('li');
  item.textContent = text;
  if (notice) item.className = 'notice';
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 30;
  log.appendChild(item);
  // Browsers keep every element: bound the log.
  while (log.children.length > 200) log.firstElementChild!.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function followChat(): void {
  // since 0: the recent messages the server still keeps, then live ones.
  subs.chat = pushwire.subscribe('chat', (m) => {
    chatIds.push(m.id);
    if (typeof m.data === 'string') addChat(m.data);
  }, {
    since: 0,
    events: ['chat message'],
    stallTimeout,
    onGap: () => {
      if (byId('chat-log').children.length > 0) addChat('(some messages were missed)', true);
    },
  });
}

byId<HTMLFormElement>('chat-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = byId<HTMLInputElement>('chat-input');
  const text = input.value;
  if (text.length === 0) return;
  try {
    await pushwire.emit('chat message', text);
    input.value = '';
    setStatus('chat-status', '');
  } catch (err) {
    setStatus('chat-status', `Not sent: ${(err as Error).message}`, 'error');
  }
});

// ---- one panel per technique ---------------------------------------------

function startPanel(panel: Panel): void {
  if (panel.sub) return;
  const label = panel.transport;
  panel.sub = subs[label] = pushwire.subscribe(
    'registrations',
    (m) => {
      const data = m.data as CountData;
      panel.lastAt = arrived(data.count);
      panel.lastCount = data.count;
      panel.count = data.count;
      note(label, { kind: 'message', id: m.id, count: data.count });
      panel.element.classList.remove('flash');
      void panel.element.offsetWidth; // restart the animation
      panel.element.classList.add('flash');
      renderPanel(panel);
    },
    {
      transport: panel.transport,
      // Each panel shows its own technique at work: a connection of its own, not the shared one.
      share: false,
      since: panel.since,
      events: ['count'],
      pollInterval,
      stallTimeout,
      onGap: async () => {
        const fresh = await loadState();
        note(label, { kind: 'reload', id: fresh.last, count: fresh.count });
        panel.count = fresh.count;
        renderPanel(panel);
        return fresh.last;
      },
      onStatus: () => renderPanel(panel),
    },
  );
}

function stopPanel(panel: Panel): void {
  const sub = panel.sub;
  if (!sub) return;
  panel.sub = null;
  panel.since = sub.stats.lastId ?? panel.since;
  panel.carried.requests += sub.stats.requests;
  panel.carried.bytes += sub.stats.bytes;
  panel.carried.messages += sub.stats.messages;
  sub.close();
  renderPanel(panel);
}

function formatBytes(n: number): string {
  return n < 10000 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`;
}

function renderPanel(panel: Panel): void {
  const stats = panel.sub?.stats;
  const set = (name: string, text: string) => {
    const element = panel.element.querySelector(`[data-stat="${name}"]`);
    if (element && element.textContent !== text) element.textContent = text;
  };
  set('count', panel.count === null ? '–' : String(panel.count));
  set('requests', String(panel.carried.requests + (stats?.requests ?? 0)));
  set('bytes', formatBytes(panel.carried.bytes + (stats?.bytes ?? 0)));
  if (panel.lastAt) {
    const origin = clickedAt.get(panel.lastCount) ?? firstSeen.get(panel.lastCount) ?? panel.lastAt;
    set('delay', `${Math.max(0, Math.round(panel.lastAt - origin))} ms`);
  }
  set('state', stats ? (stats.transport === panel.transport ? stats.state : `${NAMES[stats.transport]}, ${stats.state}`) : 'paused');
}

function renderPanels(): void {
  for (const panel of panels) renderPanel(panel);
}

function panelsWanted(): boolean {
  return panelsHere && byId<HTMLInputElement>('panels-on').checked && document.visibilityState !== 'hidden';
}

function updatePanels(): void {
  for (const panel of panels) (panelsWanted() ? startPanel : stopPanel)(panel);
  if (!panelsDecided) return;
  byId('panels').hidden = !panelsHere;
  byId('panels-elsewhere').hidden = panelsHere;
}

byId('panels-on').addEventListener('change', updatePanels);
document.addEventListener('visibilitychange', updatePanels);

// ---- the panels run in one window at a time ---------------------------------
// The window holding the Web Lock below runs them; the others queue for it (so
// the panels move on when that window closes) and may take it over at once.

const PANELS_LOCK = 'pushwire demo panels';
const demo = typeof BroadcastChannel === 'function' ? new BroadcastChannel('pushwire demo') : null;
const thisWindow = `the window opened at ${new Date().toLocaleTimeString()}`;
let queued = false;

function runPanelsHere(): Promise<void> {
  panelsHere = true;
  panelsDecided = true;
  updatePanels();
  renderPanels();
  demo?.postMessage({ panelsIn: thisWindow });
  // Held until this window closes, or another takes the panels over.
  return new Promise<void>(() => {});
}

function panelsLost(err: unknown): void {
  panelsDecided = true;
  if ((err as Error)?.name !== 'AbortError') {
    // Locks refused altogether: this window runs its own panels.
    panelsHere = true;
    return updatePanels();
  }
  panelsHere = false;
  updatePanels();
  waitForPanels();
}

function waitForPanels(): void {
  if (queued) return;
  queued = true;
  navigator.locks.request(PANELS_LOCK, () => {
    queued = false;
    return runPanelsHere();
  }).catch(panelsLost);
}

if (navigator.locks) {
  // ifAvailable first: this window knows at once whether the panels are free.
  navigator.locks.request(PANELS_LOCK, { ifAvailable: true }, (lock) => {
    if (lock) return runPanelsHere();
    panelsDecided = true;
    updatePanels();
    waitForPanels();
    return undefined;
  }).catch(panelsLost);
  byId('panels-here').addEventListener('click', () => {
    // steal: the holder's lock is released at once (its request rejects with AbortError).
    navigator.locks.request(PANELS_LOCK, { steal: true }, runPanelsHere).catch(panelsLost);
  });
  if (demo) {
    demo.onmessage = (ev: MessageEvent<{ panelsIn?: string; where?: boolean }>) => {
      if (ev.data.panelsIn) byId('panels-where').textContent = ev.data.panelsIn;
      if (ev.data.where && panelsHere) demo.postMessage({ panelsIn: thisWindow });
    };
    demo.postMessage({ where: true });
  }
}

// ---- start ----------------------------------------------------------------

async function start(): Promise<void> {
  let state: State;
  try {
    state = await loadState();
  } catch {
    setStatus('signup-status', 'The server cannot be reached; retrying…', 'error');
    setTimeout(start, 2000);
    return;
  }
  setStatus('signup-status', '');
  showCount(state);
  for (const panel of panels) {
    panel.since = state.last;
    panel.count = state.count;
  }
  const how = document.querySelector('#panel-poll .how code');
  if (how && pollInterval !== 2000) how.nextSibling!.textContent = ` every ${pollInterval / 1000} s: simple, wasteful, up to ${pollInterval / 1000} s late.`;
  followCount(state);
  followChat();
  updatePanels();
  renderPanels();
}

void start();
