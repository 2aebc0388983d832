/**
 * The browser client as an ES module with types, for bundlers and
 * `<script type="module">`: `import { subscribe, emit } from 'pushwire/client'`.
 * The code is the classic /push.js itself (imported for its effect: it puts
 * `pushwire` on globalThis, where its iframe streams call back); this module
 * re-exports it, so a page that loads both shares one client.
 */
import './push.js';
import type { api as Api } from './push.js';

export type { Message, Role, Stats, SubscribeOptions, Subscription, Transport } from './core/types.js';

const api = (globalThis as unknown as { pushwire: typeof Api }).pushwire;

/** The fallback order: best first. */
export const TRANSPORTS = api.TRANSPORTS;

/** Follows a channel; see SubscribeOptions. All subscriptions of a browser share one connection. */
export const subscribe = api.subscribe;

/** Sends `{"event", "data"}` to the server: over this page's open WebSocket, else POST /push/emit. */
export const emit = api.emit;
