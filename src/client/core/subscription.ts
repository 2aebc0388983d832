/**
 * A page's subscription to one channel: its cursor, what it hands to the
 * page's onMessage, and what a gap means (reload while holding what arrives).
 * Where its messages come from — its page's own hub, or the connection
 * another window shares — is its Route's business.
 */
import { isNew, position } from './cursor.js';
import type { Watcher } from './hub.js';
import { freshStatus, GAP, type ConnectionOptions, type Env, type HubStatus, type Message, type Role, type Stats, type SubscribeOptions, type Subscription, type Transport } from './types.js';

/** The fallback order: best first. */
export const TRANSPORTS: readonly Transport[] = ['websocket', 'sse', 'iframe', 'longpoll', 'poll'];

/** Where a subscription is attached: its page's own hub, or the shared one. */
export interface Route {
  attach(sub: Subscriber): void;
  detach(sub: Subscriber): void;
  /** The sub's cursor went back: the connection may have to rewind. */
  touch(sub: Subscriber): void;
}

/** After a failed reload, this long before the connection is asked to rewind (and the gap comes again). */
const RELOAD_RETRY = 1000;

let nextSubscription = 0;

export function connectionOptions(o: SubscribeOptions): ConnectionOptions {
  return {
    pollInterval: o.pollInterval ?? 2000,
    longPollTimeout: o.longPollTimeout ?? 25000,
    stallTimeout: o.stallTimeout ?? 35000,
    retryMin: o.retryMin ?? 500,
    retryMax: o.retryMax ?? 15000,
    upgradeInterval: o.upgradeInterval ?? 15000,
  };
}

function orderOf(options: SubscribeOptions): readonly Transport[] {
  const t = options.transport;
  return t === undefined ? TRANSPORTS : typeof t === 'string' ? [t] : t.length ? t : TRANSPORTS;
}

export class Subscriber implements Subscription, Watcher {
  readonly channel: string;
  readonly base: string;
  readonly order: readonly Transport[];
  /** Connections of the same order share: this names it across pages. */
  readonly key: string;
  readonly uid = ++nextSubscription;
  readonly events: readonly string[] | undefined;
  readonly connection: ConnectionOptions;
  lastId: number | null;
  role: Role = 'alone';
  /** The connection's status: its hub's own object, or the last one relayed by the leader. */
  hubStatus: HubStatus;
  private messages = 0;
  private ownRequests = 0;
  private closed = false;
  /** Messages held while onGap reloads the state. */
  private held: Message[] | null = null;
  private route: Route | null = null;
  private learnTimer: unknown;

  constructor(
    private readonly env: Env,
    channel: string,
    private readonly onMessage: (m: Message) => void,
    private readonly options: SubscribeOptions,
    private readonly routeOf: (sub: Subscriber) => Route,
  ) {
    this.channel = channel;
    this.base = (options.base ?? env.origin).replace(/\/+$/, '');
    this.order = orderOf(options);
    this.key = this.order.join(',');
    this.events = options.events;
    this.connection = connectionOptions(options);
    this.lastId = options.since ?? null;
    this.hubStatus = freshStatus(this.order[0]!);
    if (this.lastId === null) this.learn(0);
    else this.attach();
  }

  /** Whether it follows the other pages' connection when it can. */
  get shares(): boolean {
    return this.options.share !== false;
  }

  get stats(): Stats {
    const h = this.hubStatus;
    return {
      transport: h.transport,
      state: this.closed ? 'closed' : h.state,
      requests: h.requests + this.ownRequests,
      bytes: h.bytes,
      messages: this.messages,
      lastId: this.lastId,
      fallbacks: h.fallbacks,
      upgrades: h.upgrades,
      role: this.role,
    };
  }

  /** The last id it has, counting those held while a gap reloads the state. */
  cursor(): number {
    return position(this.lastId, this.held);
  }

  /** Without a cursor a reconnect could not ask for what it missed: learn the channel's last id first. */
  private learn(attempt: number): void {
    this.ownRequests++;
    this.env.get(`${this.base}/push/poll?channel=${encodeURIComponent(this.channel)}`)
      .then((res) => (res.ok ? res.json() : Promise.reject()))
      .then(
        (answer: { last: number }) => {
          if (this.closed) return;
          this.lastId ??= answer.last;
          this.attach();
        },
        () => {
          if (this.closed) return;
          const delay = Math.min(15000, 500 * 2 ** attempt);
          this.learnTimer = this.env.setTimeout(() => this.learn(attempt + 1), (delay * (1 + this.env.random())) / 2);
        },
      );
  }

  /** Takes its route; another one if the first fails (window sharing refused by the browser: this page alone). */
  attach(route = this.routeOf(this)): void {
    this.route = route;
    route.attach(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.env.clearTimeout(this.learnTimer);
    this.route?.detach(this);
    this.route = null;
    this.statusChanged();
  }

  statusChanged(): void {
    try {
      this.options.onStatus?.(this.stats);
    } catch (err) {
      this.env.report(err);
    }
  }

  receive(m: Message): void {
    if (this.closed || m.channel !== this.channel) return;
    if (this.held) {
      this.held.push(m);
      return;
    }
    if (m.event === GAP) return this.gap(m.id);
    if (!isNew(this.lastId, m)) return;
    this.lastId = m.id;
    this.messages++;
    this.deliver(m);
    this.statusChanged();
  }

  private deliver(m: Message): void {
    try {
      this.onMessage(m);
    } catch (err) {
      this.env.report(err);
    }
  }

  /** Some messages are gone: reload the state, holding what arrives meanwhile. */
  private gap(last: number): void {
    const before = this.lastId;
    // The gap's id may be lower than ours (the server lost its ids): take it as the new cursor.
    this.lastId = last;
    const onGap = this.options.onGap;
    if (!onGap) return this.deliver({ channel: this.channel, id: last, event: GAP, data: null });
    const held: Message[] = (this.held = []);
    let wentBack = false;
    Promise.resolve()
      .then(() => onGap(last))
      .then(
        (since) => {
          if (typeof since !== 'number') return;
          this.lastId = since;
          // A state older than the gap: what was held comes after a hole; the connection goes back for it all.
          if (since < last) {
            held.length = 0;
            wentBack = true;
          }
        },
        (err) => {
          // The reload failed: go back to the old cursor, so the connection rewinds, the gap comes again and the reload is retried.
          this.env.report(err);
          this.lastId = before;
          held.length = 0;
          if (!this.closed) this.env.setTimeout(() => this.route?.touch(this), RELOAD_RETRY);
        },
      )
      .then(() => {
        if (this.held !== held) return;
        this.held = null;
        for (const m of held) this.receive(m);
        this.statusChanged();
        if (wentBack && !this.closed) this.route?.touch(this);
      });
  }
}
