/// <reference path="./push.ts" />
/**
 * The browser client as an ES module with types, for bundlers and
 * `<script type="module">`: `import { subscribe, emit } from 'pushwire/client'`.
 * The code is the classic /push.js itself (imported for its effect: it puts
 * `pushwire` on globalThis, where its iframe streams call back); this module
 * re-exports it, so a page that loads both shares one client.
 */
import './push.js';

const api = (globalThis as unknown as { pushwire: typeof pushwire }).pushwire;

export type Transport = pushwire.Transport;
export type Message = pushwire.Message;
export type Role = pushwire.Role;
export type Stats = pushwire.Stats;
export type SubscribeOptions = pushwire.SubscribeOptions;
export type Subscription = pushwire.Subscription;

/** The fallback order: best first. */
export const TRANSPORTS: readonly Transport[] = api.TRANSPORTS;

/** Follows a channel; see SubscribeOptions. All subscriptions of a browser share one connection. */
export const subscribe: (channel: string, onMessage: (m: Message) => void, options?: SubscribeOptions) => Subscription = api.subscribe;

/** Sends `{"event", "data"}` to the server: over this page's open WebSocket, else POST /push/emit. */
export const emit: (event: string, data: unknown, options?: { base?: string }) => Promise<void> = api.emit;
