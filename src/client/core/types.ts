/**
 * The client's vocabulary: what a page sees (messages, stats, options) and
 * what the core asks of the world around it (Env).
 */

export type Transport = 'websocket' | 'sse' | 'iframe' | 'longpoll' | 'poll';

export interface Message {
  channel: string;
  id: number;
  event: string;
  data: unknown;
}

/**
 * How a subscription reaches the server: 'alone', its page's own connection;
 * 'leader', this page holds the connection the other pages share;
 * 'follower', another page holds it and relays.
 */
export type Role = 'alone' | 'leader' | 'follower';

export interface Stats {
  /** The technique in use (or being tried). */
  transport: Transport;
  state: 'connecting' | 'open' | 'retrying' | 'closed';
  /** HTTP requests made by the connection (shared by all its subscriptions) and by this subscription. */
  requests: number;
  /** Body bytes the connection received (HTTP headers not counted; for SSE and iframe the bytes of each event as framed). */
  bytes: number;
  /** Messages handed to onMessage. */
  messages: number;
  /** The cursor: the last id delivered (or reloaded past on a gap); null before it is known. */
  lastId: number | null;
  /** Times the connection changed for the next technique in the fallback order. */
  fallbacks: number;
  /** Times it moved back to the first technique after falling back. */
  upgrades: number;
  role: Role;
}

export interface SubscribeOptions {
  /** One technique, or an order to fall back along (default TRANSPORTS). */
  transport?: Transport | readonly Transport[];
  /** The last id already seen (default: only messages published from now on). */
  since?: number;
  /** The server, e.g. 'http://127.0.0.1:3000' (default: this page's origin). */
  base?: string;
  /**
   * Event names to listen for over SSE. EventSource delivers only the names it
   * is told; unless every subscription of a connection gives this list, SSE is
   * read with fetch() and every event arrives.
   */
  events?: readonly string[];
  /**
   * Messages were lost (a restart, or a cursor older than the server keeps):
   * reload the state. May return the id the reloaded state corresponds to;
   * later messages up to it are then skipped (and if it is older than the
   * gap's, the connection goes back for those after it). Without it, the
   * gap is handed to onMessage as a `push:gap` message.
   */
  onGap?: (last: number) => number | void | Promise<number | void>;
  /** Called whenever stats change. */
  onStatus?: (stats: Stats) => void;
  /**
   * Share one connection with the other pages of this origin (default true):
   * one page holds it, the others get their messages relayed. False, or a
   * browser without Web Locks or BroadcastChannel: this page's own connection.
   */
  share?: boolean;
  // The options below tune the connection; the first subscription to open it sets them.
  /** Short-polling period, ms (default 2000). */
  pollInterval?: number;
  /** Long-poll hold, ms (default 25000). */
  longPollTimeout?: number;
  /**
   * A stream silent (no message, no heartbeat) for this long is taken for dead and
   * reconnected, ms (default 35000: the server's heartbeat comes at least every 25 s).
   * A cut connection can leave an iframe "loading" forever with no event to tell.
   */
  stallTimeout?: number;
  /** Reconnect backoff: first delay and cap, ms (defaults 500 and 15000), with jitter. */
  retryMin?: number;
  retryMax?: number;
  /** After falling back, first delay before trying the first technique again, ms (default 15000; doubles up to 5 minutes). */
  upgradeInterval?: number;
}

export interface Subscription {
  readonly channel: string;
  readonly stats: Stats;
  close(): void;
}

/** The server's gap signal (names beginning with `push:` are the server's own). */
export const GAP = 'push:gap';

/** Channel → the last id to resume after. */
export type Cursors = Map<string, number>;

/** A poll or long-poll answer of several channels (docs/PROTOCOL.md §3.11). */
export interface PollAnswer {
  messages: Message[];
  last: Record<string, number>;
  gap: Record<string, boolean>;
}

export interface ConnectionOptions {
  pollInterval: number;
  longPollTimeout: number;
  stallTimeout: number;
  retryMin: number;
  retryMax: number;
  upgradeInterval: number;
}

/** What a connection shows its subscriptions (and the leader relays to other pages). */
export interface HubStatus {
  transport: Transport;
  state: Stats['state'];
  requests: number;
  bytes: number;
  fallbacks: number;
  upgrades: number;
}

/** A connection's status before it has done anything. */
export function freshStatus(transport: Transport): HubStatus {
  return { transport, state: 'connecting', requests: 0, bytes: 0, fallbacks: 0, upgrades: 0 };
}

/** What a technique reports back; calls from a connection the hub has let go are ignored. */
export interface Link {
  opened(): void;
  request(): void;
  bytes(n: number): void;
  message(m: Message): void;
  answer(a: PollAnswer): void;
  ended(): void;
}

/** One open (or opening) connection of a technique. */
export interface Connection {
  /** Changes its channels in band (WebSocket); false: it must be re-opened instead. */
  update(add: Cursors, remove: readonly string[]): boolean;
  stop(): void;
}

/** What a technique is told when it opens. `channels` is live: the hub moves it with every message. */
export interface Opening {
  readonly base: string;
  readonly options: ConnectionOptions;
  readonly channels: Cursors;
  /** SSE event names every listener needs, or null if one takes every event. */
  readonly events: string[] | null;
  /** `${base}${path}?channels=a@1,b@2` for the current channels. */
  url(path: string): string;
}

export type Connector = (opening: Opening, link: Link) => Connection;

export type Timer = unknown;

/** An HTTP answer, as much of fetch()'s Response as the core reads. */
export interface Answer {
  readonly ok: boolean;
  readonly status: number;
  json(): Promise<any>;
}

/** A BroadcastChannel, as much of it as window sharing uses. */
export interface Bus {
  postMessage(data: unknown): void;
  onmessage: ((ev: { data: any }) => void) | null;
}

/** navigator.locks, as much of it as window sharing uses. */
export interface Locks {
  request(name: string, options: { ifAvailable: true }, fn: (lock: unknown) => unknown): Promise<unknown>;
  request(name: string, fn: (lock: unknown) => unknown): Promise<unknown>;
}

/** The windows of one browser, for sharing a connection; null where a browser lacks them. */
export interface Windows {
  bus(name: string): Bus;
  readonly locks: Locks;
  /** The page goes away (pagehide) or comes back from the back/forward cache (pageshow, persisted). */
  onHide(fn: () => void): void;
  onRestore(fn: () => void): void;
}

/** Everything the core takes from outside: a browser gives the real ones, a test its own. */
export interface Env {
  now(): number;
  random(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
  /** An error of a page's callback: thrown where it does not unwind the client. */
  report(err: unknown): void;
  /** GET, not cached. */
  get(url: string): Promise<Answer>;
  readonly connectors: Record<Transport, Connector>;
  readonly windows: Windows | null;
  /** The default base: this page's origin. */
  readonly origin: string;
}
