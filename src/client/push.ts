/*! pushwire browser client (MIT): subscribe over WebSocket, SSE, iframe streaming, long or short polling. Source: src/client/push.ts */
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
 * One connection per browser, however many channels, pages and windows:
 * - every subscription of a page rides one connection per server (and
 *   technique order), carrying all its channels (`channels=a@12,b@7`,
 *   docs/PROTOCOL.md §3.11); over WebSocket a channel is added or dropped in
 *   band, the other techniques re-open with the new set and every cursor;
 * - the pages of one origin elect a leader (Web Locks API) that holds that
 *   connection for all of them and relays messages over BroadcastChannel;
 *   when it goes, another takes over from the cursors;
 * - a connection that fell back to a lesser technique tries the first one
 *   again in the background and moves back to it.
 * Every message carries its channel and id; each subscription remembers the
 * last id it delivered and drops anything at or below it, so a re-opened,
 * replaced or relayed connection never delivers a message twice, and one
 * resumed from the cursors never misses one.
 */
namespace pushwire {
  export type Transport = 'websocket' | 'sse' | 'iframe' | 'longpoll' | 'poll';
  /** The fallback order: best first. */
  export const TRANSPORTS: readonly Transport[] = ['websocket', 'sse', 'iframe', 'longpoll', 'poll'];

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

  /** A poll or long-poll answer of several channels (docs/PROTOCOL.md §3.11). */
  interface PollAnswer {
    messages: Message[];
    last: Record<string, number>;
    gap: Record<string, boolean>;
  }

  /** The server's gap signal (names beginning with `push:` are the server's own). */
  const GAP = 'push:gap';
  /** Membership changes within this long are applied together (one re-open for a burst of subscribes). */
  const APPLY_DELAY = 15;
  const UPGRADE_MAX = 5 * 60_000;

  // ---- the connection: one per server and technique order ------------------

  /** Channel → the last id to resume after. */
  type Cursors = Map<string, number>;

  interface ConnectionOptions {
    pollInterval: number;
    longPollTimeout: number;
    stallTimeout: number;
    retryMin: number;
    retryMax: number;
    upgradeInterval: number;
  }

  function connectionOptions(o: SubscribeOptions): ConnectionOptions {
    return {
      pollInterval: o.pollInterval ?? 2000,
      longPollTimeout: o.longPollTimeout ?? 25000,
      stallTimeout: o.stallTimeout ?? 35000,
      retryMin: o.retryMin ?? 500,
      retryMax: o.retryMax ?? 15000,
      upgradeInterval: o.upgradeInterval ?? 15000,
    };
  }

  /** What a Hub shows its subscriptions (and relays to other pages). */
  interface HubStatus {
    transport: Transport;
    state: Stats['state'];
    requests: number;
    bytes: number;
    fallbacks: number;
    upgrades: number;
  }

  /** What a Hub feeds: a subscription of this page, or one of another page's, relayed. */
  interface Listener {
    readonly channel: string;
    /** The last id it has: a connection opens from the lowest of its channel's listeners. */
    cursor(): number;
    /** `at`: the connection's last id of the channel before `m` (none for a gap). */
    receive(m: Message, at?: number): void;
    /** SSE event names it needs, or undefined for "every event". */
    readonly events: readonly string[] | undefined;
  }

  /** What a technique reports back; calls from a connection the Hub has let go are ignored. */
  interface Link {
    opened(): void;
    request(): void;
    bytes(n: number): void;
    message(m: Message): void;
    answer(a: PollAnswer): void;
    ended(): void;
  }

  interface Connection {
    /** Changes its channels in band (WebSocket); false: it must be re-opened instead. */
    update(add: Cursors, remove: readonly string[]): boolean;
    stop(): void;
  }

  /**
   * `channels` is live: the Hub moves it along with every message, so a
   * technique that makes a request per answer (polling) always asks from
   * where it is.
   */
  type Connector = (hub: Hub, link: Link, channels: Cursors) => Connection;

  /** One opened connection and how far it has delivered each channel. */
  interface Live {
    conn: Connection | null;
    /** By channel, the last id this connection delivered (at first, the cursor it opened from). */
    readonly carried: Cursors;
    /** Channels asked in band to go back to an older cursor, whose replay has not begun yet. */
    readonly rewinding: Cursors;
    readonly index: number;
    openedAt: number;
    delivered: boolean;
  }

  /**
   * The connection of a set of listeners: which channels it carries from
   * which cursors, the technique, fallback, backoff, and the way back to the
   * first technique.
   */
  class Hub {
    readonly status: HubStatus;
    private readonly listeners = new Map<string, Set<Listener>>();
    private live: Live | null = null;
    private probing: Live | null = null;
    private index = 0;
    private failures = 0;
    private attempt = 0;
    private generation = 0;
    /** A reconnect is pending (backoff timer or reachability check). */
    private waiting = false;
    private closed = false;
    private timer: ReturnType<typeof setTimeout> | undefined;
    private applyTimer: ReturnType<typeof setTimeout> | undefined;
    private probeTimer: ReturnType<typeof setTimeout> | undefined;
    private upgradeDelay: number;
    /** This page's subscriptions on it, told of every status change. */
    private readonly watchers = new Set<Sub>();
    /** Also told of every status change (sharing relays it to the other pages). */
    onStatus: (() => void) | null = null;

    constructor(
      readonly base: string,
      readonly order: readonly Transport[],
      readonly options: ConnectionOptions,
      private readonly release: (hub: Hub) => void,
    ) {
      this.status = { transport: order[0]!, state: 'connecting', requests: 0, bytes: 0, fallbacks: 0, upgrades: 0 };
      this.upgradeDelay = options.upgradeInterval;
    }

    /** Adds a subscription of this page: a listener that also follows the status. */
    addSub(sub: Sub): void {
      this.watchers.add(sub);
      sub.hubStatus = this.status;
      this.add(sub);
      sub.statusChanged();
    }

    removeSub(sub: Sub): void {
      this.watchers.delete(sub);
      this.remove(sub);
    }

    add(listener: Listener): void {
      let set = this.listeners.get(listener.channel);
      if (!set) this.listeners.set(listener.channel, (set = new Set()));
      set.add(listener);
      this.schedule();
    }

    remove(listener: Listener): void {
      const set = this.listeners.get(listener.channel);
      if (!set || !set.delete(listener)) return;
      if (set.size === 0) this.listeners.delete(listener.channel);
      if (this.listeners.size === 0) this.close();
      else this.schedule();
    }

    /** A listener's cursor went back (a relayed page re-joined, a reload failed): see whether the connection must rewind. */
    touch(): void {
      this.schedule();
    }

    /** SSE event names every listener needs, or null if one takes every event. */
    events(): string[] | null {
      const names = new Set<string>([GAP]);
      for (const set of this.listeners.values()) {
        for (const l of set) {
          if (!l.events) return null;
          for (const name of l.events) names.add(name);
        }
      }
      return [...names];
    }

    url(path: string, channels: Cursors): string {
      let spec = '';
      for (const [channel, since] of channels) spec += (spec ? ',' : '') + encodeURIComponent(channel) + '@' + since;
      return `${this.base}${path}?channels=${spec}`;
    }

    /** The channels wanted now, each from the lowest cursor of its listeners. */
    private wanted(): Cursors {
      const out: Cursors = new Map();
      for (const [channel, set] of this.listeners) {
        let low = Infinity;
        for (const l of set) low = Math.min(low, l.cursor());
        out.set(channel, low);
      }
      return out;
    }

    private schedule(): void {
      if (this.closed || this.applyTimer !== undefined) return;
      this.applyTimer = setTimeout(() => {
        this.applyTimer = undefined;
        this.apply();
      }, APPLY_DELAY);
    }

    /** Brings the connection's channels in line with the listeners': in band, or by re-opening from the cursors. */
    private apply(): void {
      if (this.closed) return;
      const live = this.live;
      if (!live || !live.conn) {
        if (!this.waiting) this.connect();
        return;
      }
      const wanted = this.wanted();
      const add: Cursors = new Map();
      const remove: string[] = [];
      for (const [channel, since] of wanted) {
        const at = live.carried.get(channel);
        if (at === undefined || since < Math.min(at, live.rewinding.get(channel) ?? at)) add.set(channel, since);
      }
      for (const channel of live.carried.keys()) if (!wanted.has(channel)) remove.push(channel);
      if (add.size === 0 && remove.length === 0) return;
      // A probe opened with the old set would come back with the wrong one: start it again later.
      this.abandonProbe();
      if (live.conn.update(add, remove)) {
        for (const [channel, since] of add) {
          // A channel carried already goes back: what comes until the replay is the old subscription's.
          if (live.carried.has(channel)) live.rewinding.set(channel, since);
          else live.carried.set(channel, since);
        }
        for (const channel of remove) {
          live.carried.delete(channel);
          live.rewinding.delete(channel);
        }
        return;
      }
      // Stop first, then open from the cursors: nothing in between is lost (the server keeps it), and anything delivered twice is dropped by id.
      this.stopLive();
      this.connect();
    }

    private connect(): void {
      clearTimeout(this.timer);
      this.waiting = false;
      if (this.closed) return;
      this.generation++;
      this.setState('connecting');
      this.open(this.index, false);
    }

    /** Opens a connection with technique `index` on the wanted channels, as the live one or as a probe. */
    private open(index: number, probe: boolean): void {
      const rec: Live = { conn: null, carried: this.wanted(), rewinding: new Map(), index, openedAt: 0, delivered: false };
      const mine = () => this.live === rec || this.probing === rec;
      const link: Link = {
        opened: () => {
          if (rec.openedAt || !mine()) return;
          rec.openedAt = Date.now();
          if (this.probing === rec) return this.promote(rec);
          this.failures = 0;
          this.setState('open');
          this.scheduleProbe();
        },
        request: () => {
          if (!mine()) return;
          this.status.requests++;
          this.changed();
        },
        bytes: (n) => {
          if (mine()) this.status.bytes += n;
        },
        message: (m) => {
          if (mine()) this.dispatch(rec, m);
        },
        answer: (a) => {
          if (!mine()) return;
          for (const channel of Object.keys(a.gap ?? {})) {
            if (a.gap[channel] && mine()) this.dispatch(rec, { channel, id: a.last[channel]!, event: GAP, data: null });
          }
          for (const m of a.messages ?? []) if (mine()) this.dispatch(rec, m);
          this.changed();
        },
        ended: () => {
          if (this.live === rec) this.retry(rec.openedAt > 0);
          else if (this.probing === rec) this.probeFailed();
        },
      };
      if (probe) this.probing = rec;
      else this.live = rec;
      rec.conn = CONNECTORS[this.order[index]!](this, link, rec.carried);
    }

    /**
     * A message to the listeners it reaches without a hole: those whose cursor
     * is at least the connection's before it. A listener behind (it joined
     * from an older cursor) gets it once the connection has gone back for it:
     * taking it now would move its cursor past the ids in between.
     */
    private dispatch(rec: Live, m: Message): void {
      if (typeof m !== 'object' || m === null || typeof m.id !== 'number' || typeof m.channel !== 'string') return;
      let at = rec.carried.get(m.channel);
      if (at === undefined) return; // a channel this connection no longer carries
      const set = this.listeners.get(m.channel);
      if (m.event === GAP) {
        rec.carried.set(m.channel, m.id);
        rec.rewinding.delete(m.channel);
        if (set) for (const listener of Array.from(set)) listener.receive(m);
        return;
      }
      // An id at or below the connection's: the replay from an older cursor has begun.
      if (m.id <= at) {
        at = m.id - 1;
        rec.rewinding.delete(m.channel);
      }
      rec.carried.set(m.channel, m.id);
      rec.delivered = true;
      if (!set) return;
      for (const listener of Array.from(set)) if (listener.cursor() >= at) listener.receive(m, at);
    }

    /** The connection ended or failed: reconnect after a backoff, or fall back if the technique itself fails. */
    private retry(wasOpen: boolean): void {
      const rec = this.live;
      this.stopLive();
      this.stopProbe();
      this.waiting = true;
      const generation = ++this.generation;
      this.setState('retrying');
      // A connection that stayed up a while, or delivered something, was healthy: start the backoff afresh.
      if (wasOpen && rec && (rec.delivered || Date.now() - rec.openedAt > 5000)) this.attempt = 0;
      const delay = this.backoff();
      if (wasOpen || this.index >= this.order.length - 1) {
        this.timer = setTimeout(() => this.connect(), delay);
        return;
      }
      // It never opened. Only if the server answers plain HTTP is the technique to blame
      // (a proxy refusing upgrades, say); if the server is down, keep the technique and wait.
      this.status.requests++;
      const probe = this.listeners.keys().next().value ?? 'pushwire';
      fetch(`${this.base}/push/poll?channel=${encodeURIComponent(probe)}`, { cache: 'no-store' }).then((res) => res.ok, () => false).then((reachable) => {
        if (generation !== this.generation || this.closed) return;
        if (reachable && ++this.failures >= 2) {
          this.index++;
          this.failures = 0;
          this.attempt = 0;
          this.status.transport = this.order[this.index]!;
          this.status.fallbacks++;
          this.connect();
          return;
        }
        this.timer = setTimeout(() => this.connect(), delay);
      });
    }

    /** Exponential backoff with jitter: half fixed, half random, so a crowd of clients spreads out. */
    private backoff(): number {
      const { retryMin: min, retryMax: max } = this.options;
      const ceiling = Math.min(max, min * 2 ** Math.min(this.attempt++, 16));
      return ceiling / 2 + Math.random() * (ceiling / 2);
    }

    // ---- the way back to the first technique ----

    private scheduleProbe(): void {
      if (this.index === 0 || this.probeTimer !== undefined || this.probing || this.closed) return;
      const delay = this.upgradeDelay * (0.75 + Math.random() / 2);
      this.upgradeDelay = Math.min(UPGRADE_MAX, this.upgradeDelay * 2);
      this.probeTimer = setTimeout(() => {
        this.probeTimer = undefined;
        // Only from a working fallback; a broken one is retried the usual way.
        if (this.index > 0 && this.live?.openedAt && !this.closed) this.open(0, true);
      }, delay);
    }

    /**
     * The first technique works again. It was opened from the cursors while
     * the fallback went on delivering, so it carries everything from there:
     * drop the fallback (what both delivered is dropped by id).
     */
    private promote(rec: Live): void {
      this.probing = null;
      this.stopLive();
      this.live = rec;
      this.index = rec.index;
      this.failures = 0;
      this.attempt = 0;
      this.upgradeDelay = this.options.upgradeInterval;
      this.status.transport = this.order[rec.index]!;
      this.status.upgrades++;
      this.setState('open');
      // Channels that changed while it opened.
      this.schedule();
    }

    private probeFailed(): void {
      this.abandonProbe();
    }

    /** Drops a probe under way, and tries again later. */
    private abandonProbe(): void {
      const probe = this.probing;
      if (!probe) return;
      this.probing = null;
      probe.conn?.stop();
      this.scheduleProbe();
    }

    /** No probe now, nor one pending: the fallback itself is down. */
    private stopProbe(): void {
      clearTimeout(this.probeTimer);
      this.probeTimer = undefined;
      const probe = this.probing;
      this.probing = null;
      probe?.conn?.stop();
    }

    private stopLive(): void {
      const live = this.live;
      this.live = null;
      live?.conn?.stop();
    }

    private setState(state: Stats['state']): void {
      this.status.state = state;
      this.changed();
    }

    changed(): void {
      for (const sub of this.watchers) sub.statusChanged();
      this.onStatus?.();
    }

    close(): void {
      if (this.closed) return;
      this.closed = true;
      clearTimeout(this.timer);
      clearTimeout(this.applyTimer);
      clearTimeout(this.probeTimer);
      this.generation++;
      this.stopProbe();
      this.stopLive();
      this.status.state = 'closed';
      this.release(this);
    }
  }

  // ---- subscriptions --------------------------------------------------------

  let nextSubscription = 0;

  function orderOf(options: SubscribeOptions): readonly Transport[] {
    const t = options.transport;
    return t === undefined ? TRANSPORTS : typeof t === 'string' ? [t] : t.length ? t : TRANSPORTS;
  }

  /** Where a subscription is attached: its page's own hub, or the shared one. */
  interface Route {
    attach(sub: Sub): void;
    detach(sub: Sub): void;
    /** The sub's cursor went back: the connection may have to rewind. */
    touch(sub: Sub): void;
  }

  class Sub implements Subscription, Listener {
    readonly channel: string;
    readonly options: SubscribeOptions;
    readonly base: string;
    readonly order: readonly Transport[];
    /** Connections of the same order share: this names it across pages. */
    readonly key: string;
    readonly uid = ++nextSubscription;
    readonly events: readonly string[] | undefined;
    lastId: number | null;
    role: Role = 'alone';
    /** The connection's status: its hub's own object, or the last one relayed by the leader. */
    hubStatus: HubStatus;
    private messages = 0;
    private ownRequests = 0;
    private readonly onMessage: (m: Message) => void;
    private closed = false;
    /** Messages held while onGap reloads the state. */
    private held: Message[] | null = null;
    private route: Route | null = null;
    private learnTimer: ReturnType<typeof setTimeout> | undefined;

    constructor(channel: string, onMessage: (m: Message) => void, options: SubscribeOptions) {
      this.channel = channel;
      this.onMessage = onMessage;
      this.options = options;
      this.base = baseOf(options.base);
      this.order = orderOf(options);
      this.key = this.order.join(',');
      this.events = options.events;
      this.lastId = options.since ?? null;
      this.hubStatus = { transport: this.order[0]!, state: 'connecting', requests: 0, bytes: 0, fallbacks: 0, upgrades: 0 };
      if (this.lastId === null) this.learn(0);
      else this.attach();
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
      let last = this.lastId ?? 0;
      if (this.held) for (const m of this.held) if (m.event !== GAP && m.id > last) last = m.id;
      return last;
    }

    /** Without a cursor a reconnect could not ask for what it missed: learn the channel's last id first. */
    private learn(attempt: number): void {
      this.ownRequests++;
      fetch(`${this.base}/push/poll?channel=${encodeURIComponent(this.channel)}`, { cache: 'no-store' })
        .then((res) => (res.ok ? res.json() : Promise.reject(new Error('HTTP ' + res.status))))
        .then(
          (answer: { last: number }) => {
            if (this.closed) return;
            this.lastId ??= answer.last;
            this.attach();
          },
          () => {
            if (this.closed) return;
            const delay = Math.min(15000, 500 * 2 ** attempt);
            this.learnTimer = setTimeout(() => this.learn(attempt + 1), delay / 2 + (Math.random() * delay) / 2);
          },
        );
    }

    private attach(): void {
      this.route = this.options.share === false || !Share.possible() ? alone : Share.of(this.base);
      this.route.attach(this);
    }

    close(): void {
      if (this.closed) return;
      this.closed = true;
      clearTimeout(this.learnTimer);
      this.route?.detach(this);
      this.route = null;
      this.statusChanged();
    }

    statusChanged(): void {
      try {
        this.options.onStatus?.(this.stats);
      } catch (err) {
        report(err);
      }
    }

    receive(m: Message): void {
      if (this.closed || m.channel !== this.channel) return;
      if (this.held) {
        this.held.push(m);
        return;
      }
      if (m.event === GAP) return this.gap(m.id);
      const lastId = this.lastId;
      // Already delivered (a re-opened or replaced connection, or covered by a reloaded state): never twice.
      if (lastId !== null && m.id <= lastId) return;
      this.lastId = m.id;
      this.messages++;
      try {
        this.onMessage(m);
      } catch (err) {
        report(err);
      }
      this.statusChanged();
    }

    /** Some messages are gone: reload the state, holding what arrives meanwhile. */
    private gap(last: number): void {
      const before = this.lastId;
      // The gap's id may be lower than ours (the server lost its ids): take it as the new cursor.
      this.lastId = last;
      const onGap = this.options.onGap;
      if (!onGap) {
        try {
          this.onMessage({ channel: this.channel, id: last, event: GAP, data: null });
        } catch (err) {
          report(err);
        }
        return;
      }
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
            report(err);
            this.lastId = before;
            held.length = 0;
            if (!this.closed) setTimeout(() => this.route?.touch(this), 1000);
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

  /** This page's own connections, by server and technique order. */
  const ownHubs = new Map<string, Hub>();

  function hubOf(hubs: Map<string, Hub>, key: string, base: string, order: readonly Transport[], options: ConnectionOptions): Hub {
    let hub = hubs.get(key);
    if (!hub) {
      hub = new Hub(base, order, options, (h) => {
        if (hubs.get(key) === h) hubs.delete(key);
      });
      hubs.set(key, hub);
    }
    return hub;
  }

  const alone: Route = {
    attach(sub) {
      sub.role = 'alone';
      hubOf(ownHubs, sub.base + ' ' + sub.key, sub.base, sub.order, connectionOptions(sub.options)).addSub(sub);
    },
    detach(sub) {
      ownHubs.get(sub.base + ' ' + sub.key)?.removeSub(sub);
    },
    touch(sub) {
      ownHubs.get(sub.base + ' ' + sub.key)?.touch();
    },
  };

  // ---- one connection per browser: the pages of an origin share ------------

  /** What the pages of one origin say to each other (BroadcastChannel `pushwire <base>`). */
  type Post =
    | { t: 'join'; page: string; sub: number; key: string; channel: string; since: number; events: readonly string[] | undefined; options: ConnectionOptions }
    | { t: 'leave'; page: string; sub: number }
    | { t: 'bye'; page: string }
    | { t: 'leader'; page: string }
    | { t: 'm'; key: string; m: Message; at?: number }
    | { t: 'status'; key: string; status: HubStatus };

  /** In the leader's hub, a subscription of another page: its messages are posted, once for all pages. */
  class Relayed implements Listener {
    constructor(
      private readonly share: Share,
      readonly page: string,
      readonly key: string,
      readonly channel: string,
      public last: number,
      readonly events: readonly string[] | undefined,
    ) {}

    cursor(): number {
      return this.last;
    }

    receive(m: Message, at?: number): void {
      if (m.event !== GAP && m.id <= this.last) return;
      this.last = m.id;
      this.share.relay(this.key, m, at);
    }
  }

  /**
   * The pages of one origin and server: one of them, the leader (it holds
   * the Web Lock `pushwire <base>`), runs the connections for all; the others
   * post their subscriptions to it and get messages back over BroadcastChannel.
   * Each page keeps its own cursors, so a new leader resumes from them.
   */
  class Share implements Route {
    private static readonly all = new Map<string, Share>();
    readonly page = Math.random().toString(36).slice(2) + Date.now().toString(36);
    private role: 'pending' | 'leader' | 'follower' | 'gone' = 'pending';
    private readonly subs = new Set<Sub>();
    /** Leader: the shared connections, by technique order. */
    private readonly hubs = new Map<string, Hub>();
    /** Leader: the other pages' subscriptions, by page and number. */
    private readonly relayed = new Map<string, Relayed>();
    /** Follower: the leader's last word on each connection. */
    private readonly statuses = new Map<string, HubStatus>();
    private readonly bc: BroadcastChannel;
    private readonly lockName: string;
    private unlock: (() => void) | null = null;
    /** The message last posted: a message relayed for several pages goes out once. */
    private lastRelayed: Message | null = null;

    static possible(): boolean {
      return typeof BroadcastChannel === 'function' && typeof navigator === 'object' && !!navigator.locks && typeof navigator.locks.request === 'function';
    }

    static of(base: string): Share {
      let share = Share.all.get(base);
      if (!share) Share.all.set(base, (share = new Share(base)));
      return share;
    }

    private constructor(private readonly base: string) {
      this.lockName = 'pushwire ' + base;
      this.bc = new BroadcastChannel('pushwire ' + base);
      this.bc.onmessage = (ev: MessageEvent<Post>) => this.heard(ev.data);
      this.elect();
      addEventListener('pagehide', () => this.leave());
      // Back from the back/forward cache: start again as a newcomer.
      addEventListener('pageshow', (ev) => {
        if ((ev as PageTransitionEvent).persisted && this.role === 'gone') {
          this.role = 'pending';
          this.elect();
        }
      });
    }

    private elect(): void {
      const locks = navigator.locks;
      // ifAvailable: know at once whether a leader exists, rather than waiting in the queue.
      locks.request(this.lockName, { ifAvailable: true }, (lock) => {
        if (lock) return this.lead();
        this.follow();
        return locks.request(this.lockName, () => this.lead()).then(() => undefined);
      }).catch((err: unknown) => {
        // Locks refused (a sandboxed frame, say): this page alone, with its own connection.
        report(err);
        this.role = 'gone';
        for (const sub of [...this.subs]) {
          this.detach(sub);
          alone.attach(sub);
        }
      });
    }

    attach(sub: Sub): void {
      this.subs.add(sub);
      if (this.role === 'leader') this.attachHere(sub);
      else if (this.role === 'follower') this.attachThere(sub);
    }

    detach(sub: Sub): void {
      if (!this.subs.delete(sub)) return;
      if (this.role === 'leader') {
        this.hubs.get(sub.key)?.removeSub(sub);
      } else if (this.role === 'follower') {
        this.post({ t: 'leave', page: this.page, sub: sub.uid });
      }
    }

    touch(sub: Sub): void {
      if (this.role === 'leader') this.hubs.get(sub.key)?.touch();
      else if (this.role === 'follower') this.attachThere(sub);
    }

    private hub(key: string, order: readonly Transport[], options: ConnectionOptions): Hub {
      const existed = this.hubs.has(key);
      const hub = hubOf(this.hubs, key, this.base, order, options);
      if (!existed) hub.onStatus = () => this.post({ t: 'status', key, status: hub.status });
      return hub;
    }

    private attachHere(sub: Sub): void {
      sub.role = 'leader';
      this.hub(sub.key, sub.order, connectionOptions(sub.options)).addSub(sub);
    }

    private attachThere(sub: Sub): void {
      sub.role = 'follower';
      sub.hubStatus = this.statuses.get(sub.key) ?? sub.hubStatus;
      this.post({
        t: 'join', page: this.page, sub: sub.uid, key: sub.key, channel: sub.channel,
        since: sub.cursor(), events: sub.events, options: connectionOptions(sub.options),
      });
      sub.statusChanged();
    }

    /** This page holds the lock: run the connections, for its own subscriptions and the others'. */
    private lead(): Promise<void> {
      if (this.role === 'gone') return Promise.resolve();
      this.role = 'leader';
      this.statuses.clear();
      for (const sub of this.subs) this.attachHere(sub);
      // Every other page re-joins with its cursors; the hubs wait a moment to open with all of them.
      this.post({ t: 'leader', page: this.page });
      return new Promise((resolve) => (this.unlock = resolve));
    }

    private follow(): void {
      if (this.role !== 'pending') return;
      this.role = 'follower';
      for (const sub of this.subs) this.attachThere(sub);
    }

    /** The page goes away: the others drop what they relayed for it; the lock passes on. */
    private leave(): void {
      if (this.role === 'gone') return;
      const wasLeader = this.role === 'leader';
      this.role = 'gone';
      this.post({ t: 'bye', page: this.page });
      if (wasLeader) {
        for (const hub of [...this.hubs.values()]) hub.close();
        this.relayed.clear();
      }
      this.unlock?.();
      this.unlock = null;
    }

    /** Posted once for every page; each takes it only if it follows on from its cursor (`at`), as the Hub does. */
    relay(key: string, m: Message, at?: number): void {
      if (this.lastRelayed === m) return;
      this.lastRelayed = m;
      this.post({ t: 'm', key, m, at });
    }

    private post(p: Post): void {
      try {
        this.bc.postMessage(p);
      } catch (err) {
        report(err);
      }
    }

    private heard(p: Post): void {
      if (!p || typeof p !== 'object') return;
      if (this.role === 'leader') {
        if (p.t === 'join') {
          const id = p.page + ' ' + p.sub;
          const known = this.relayed.get(id);
          if (known) {
            // A re-join (a new leader, a failed reload): its cursor is the truth.
            known.last = p.since;
            this.hubs.get(known.key)?.touch();
          } else {
            const relayed = new Relayed(this, p.page, p.key, p.channel, p.since, p.events);
            this.relayed.set(id, relayed);
            this.hub(p.key, p.key.split(',') as Transport[], p.options).add(relayed);
          }
          const hub = this.hubs.get(p.key);
          if (hub) this.post({ t: 'status', key: p.key, status: hub.status });
        } else if (p.t === 'leave') {
          this.drop(p.page + ' ' + p.sub);
        } else if (p.t === 'bye') {
          for (const [id, relayed] of this.relayed) if (relayed.page === p.page) this.drop(id);
        }
      } else if (this.role === 'follower') {
        if (p.t === 'm') {
          // A page behind (it joined from an older cursor) waits for the replay the leader makes for it.
          for (const sub of this.subs) if (sub.key === p.key && (p.at === undefined || sub.cursor() >= p.at)) sub.receive(p.m);
        } else if (p.t === 'status') {
          this.statuses.set(p.key, p.status);
          for (const sub of this.subs) {
            if (sub.key !== p.key) continue;
            sub.hubStatus = p.status;
            sub.statusChanged();
          }
        } else if (p.t === 'leader') {
          for (const sub of this.subs) this.attachThere(sub);
        }
      }
    }

    private drop(id: string): void {
      const relayed = this.relayed.get(id);
      if (!relayed) return;
      this.relayed.delete(id);
      this.hubs.get(relayed.key)?.remove(relayed);
    }
  }

  // ---- the public API ---------------------------------------------------------

  /** Iframe streams call `parent.pushwire.cb.<key>(message)`. */
  export const cb: Record<string, (m: Message) => void> = {};
  let nextKey = 0;

  /** Open WebSockets by base, so emit() can use one (as Socket.IO's emit does). */
  const sockets = new Map<WebSocket, string>();

  export function subscribe(channel: string, onMessage: (m: Message) => void, options: SubscribeOptions = {}): Subscription {
    return new Sub(channel, onMessage, options);
  }

  /**
   * Sends `{"event", "data"}` to the server: over an open WebSocket if this page
   * has one, else POST /push/emit (rejecting with the server's error on refusal).
   */
  export function emit(event: string, data: unknown, options: { base?: string } = {}): Promise<void> {
    const base = baseOf(options.base);
    const body = JSON.stringify({ event, data: data === undefined ? null : data });
    for (const [ws, wsBase] of sockets) {
      if (wsBase === base && ws.readyState === 1) {
        ws.send(body);
        return Promise.resolve();
      }
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

  function baseOf(base: string | undefined): string {
    return (base ?? location.origin).replace(/\/+$/, '');
  }

  function report(err: unknown): void {
    setTimeout(() => {
      throw err;
    });
  }

  /** UTF-8 length of a string, without encoding it. */
  function utf8Length(text: string): number {
    let n = text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
    }
    return n;
  }

  // ---- the five techniques ------------------------------------------------------

  const REOPEN: Connection['update'] = () => false;

  const CONNECTORS: Record<Transport, Connector> = {
    websocket(hub, link, channels) {
      // No channel yet is fine: /push/ws opens with none, and they are added in band.
      const url = (channels.size ? hub.url('/push/ws', channels) : hub.base + '/push/ws').replace(/^http/, 'ws');
      const subscribed = new Set(channels.keys());
      /** In-band changes made while the socket was still connecting, sent once it opens. */
      const queued: string[] = [];
      link.request();
      const ws = new WebSocket(url);
      let stopped = false;
      ws.onopen = () => {
        if (stopped) return ws.close(1000);
        sockets.set(ws, hub.base);
        for (const text of queued.splice(0)) ws.send(text);
        link.opened();
      };
      ws.onmessage = (ev) => {
        if (typeof ev.data !== 'string') return;
        link.bytes(utf8Length(ev.data));
        let m: Message;
        try {
          m = JSON.parse(ev.data);
        } catch {
          return;
        }
        link.message(m);
      };
      ws.onclose = () => {
        sockets.delete(ws);
        if (!stopped) link.ended();
      };
      return {
        update(add, remove) {
          if (ws.readyState > 1) return false;
          const send = (text: string) => (ws.readyState === 1 ? ws.send(text) : queued.push(text));
          for (const channel of remove) {
            subscribed.delete(channel);
            send(JSON.stringify({ event: 'push:unsubscribe', data: { channel } }));
          }
          for (const [channel, since] of add) {
            // Subscribing again changes nothing on the server: to go back to an older cursor, drop the channel first.
            if (subscribed.has(channel)) send(JSON.stringify({ event: 'push:unsubscribe', data: { channel } }));
            subscribed.add(channel);
            send(JSON.stringify({ event: 'push:subscribe', data: { channel, since } }));
          }
          return true;
        },
        stop() {
          stopped = true;
          sockets.delete(ws);
          // Closing a socket still connecting makes the browser log an error; onopen closes it instead.
          if (ws.readyState === 1) ws.close(1000);
        },
      };
    },

    sse(hub, link, channels) {
      const events = hub.events();
      const stop = events ? eventSource(hub, link, channels, events) : fetchEventStream(hub, link, channels);
      return { update: REOPEN, stop };
    },

    iframe(hub, link, channels) {
      const key = 's' + ++nextKey;
      const stall = hub.options.stallTimeout;
      let frame: HTMLIFrameElement | null = null;
      let watch: ReturnType<typeof setInterval> | undefined;
      let observer: MutationObserver | null = null;
      let alive = Date.now();
      let started = false;
      const callback = 'pushwire.cb.' + key;
      const url = hub.url('/push/iframe', channels) + '&callback=' + callback;
      cb[key] = (m) => {
        alive = Date.now();
        link.opened();
        link.bytes(utf8Length(`<script>parent.${callback}(${JSON.stringify(m)})</script>`));
        link.message(m);
      };
      const start = () => {
        started = true;
        frame = document.createElement('iframe');
        frame.hidden = true;
        frame.title = 'pushwire stream';
        frame.tabIndex = -1;
        frame.onload = () => {
          // The stream ended. A document we can read, of type HTML, was a stream (the server ends
          // them after a bound); anything else (an error answer, a network error page) is a failure.
          const doc = readable(frame);
          if (doc && doc.contentType === 'text/html') link.opened();
          link.ended();
        };
        link.request();
        frame.src = url;
        document.body.appendChild(frame);
        // A connection cut mid-stream fires no event at all: the iframe just stays "loading".
        // So watch its document grow (messages, and the server's heartbeat comments), and
        // give up on it when it has been silent longer than the heartbeat period allows.
        alive = Date.now();
        watch = setInterval(() => {
          const doc = readable(frame);
          if (!observer && doc && doc.readyState === 'loading' && doc.URL.indexOf('/push/iframe') !== -1) {
            link.opened();
            observer = new MutationObserver(() => (alive = Date.now()));
            observer.observe(doc, { childList: true, subtree: true, characterData: true });
          }
          if (Date.now() - alive > stall) link.ended();
        }, Math.min(1000, stall / 4));
      };
      // Added before the page's load event, a never-ending iframe would hold that event back forever.
      if (document.readyState === 'complete') start();
      else addEventListener('load', start, { once: true });
      return {
        update: REOPEN,
        stop() {
          delete cb[key];
          clearInterval(watch);
          observer?.disconnect();
          if (!started) removeEventListener('load', start);
          if (frame) {
            frame.onload = null;
            frame.remove();
          }
        },
      };
    },

    longpoll(hub, link, channels) {
      const timeout = hub.options.longPollTimeout;
      // The server answers by `timeout`; a request still open well after that sits on a dead connection.
      return pollLoop(link, () => hub.url('/push/longpoll', channels) + '&timeout=' + timeout, 0, timeout + hub.options.stallTimeout);
    },

    poll(hub, link, channels) {
      return pollLoop(link, () => hub.url('/push/poll', channels), hub.options.pollInterval, hub.options.stallTimeout);
    },
  };

  function readable(frame: HTMLIFrameElement | null): Document | null {
    try {
      return frame?.contentDocument ?? null;
    } catch {
      return null;
    }
  }

  /** Short polling (a pause between requests) and long polling (none: the server holds each one). */
  function pollLoop(link: Link, url: () => string, pause: number, limit: number): Connection {
    const abort = new AbortController();
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let held: ReturnType<typeof setTimeout> | undefined;
    let overdue: ReturnType<typeof setTimeout> | undefined;
    const once = () => {
      link.request();
      // A long poll the server is still holding after a second was accepted: that counts as open.
      if (pause === 0) held = setTimeout(link.opened, 1000);
      overdue = setTimeout(() => abort.abort(), limit);
      fetch(url(), { cache: 'no-store', signal: abort.signal })
        .then(async (res) => {
          const text = await res.text();
          link.bytes(utf8Length(text));
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return JSON.parse(text) as PollAnswer;
        })
        .then(
          (answer) => {
            clearTimeout(held);
            clearTimeout(overdue);
            if (stopped) return;
            link.opened();
            link.answer(answer);
            if (!stopped) timer = setTimeout(once, pause);
          },
          () => {
            clearTimeout(held);
            clearTimeout(overdue);
            if (!stopped) link.ended();
          },
        );
    };
    once();
    return {
      update: REOPEN,
      stop() {
        stopped = true;
        clearTimeout(held);
        clearTimeout(overdue);
        clearTimeout(timer);
        abort.abort();
      },
    };
  }

  /** An SSE event's data: the message object with its channel (docs/PROTOCOL.md §3.11). */
  function toMessage(data: string): Message | null {
    try {
      return JSON.parse(data) as Message;
    } catch {
      return null;
    }
  }

  /** SSE with the browser's EventSource, listening for the named events (and push:gap). */
  function eventSource(hub: Hub, link: Link, channels: Cursors, events: readonly string[]): () => void {
    link.request();
    const source = new EventSource(hub.url('/push/sse', channels));
    const onEvent = (ev: Event) => {
      const e = ev as MessageEvent<string>;
      link.bytes(utf8Length(`id: ${e.lastEventId}\nevent: ${e.type}\ndata: ${e.data}\n\n`));
      const m = toMessage(e.data);
      if (m) link.message(m);
    };
    for (const name of events) source.addEventListener(name, onEvent);
    source.onopen = () => link.opened();
    // EventSource would reconnect by itself; we reconnect ourselves, with our cursors and backoff.
    source.onerror = () => {
      source.close();
      link.ended();
    };
    return () => source.close();
  }

  /** SSE read with fetch(): every event name arrives, and the bytes are counted exactly. */
  function fetchEventStream(hub: Hub, link: Link, channels: Cursors): () => void {
    const abort = new AbortController();
    let stopped = false;
    // Silent longer than the heartbeat period allows: the connection is dead (a cut one may never error).
    const stall = hub.options.stallTimeout;
    let silent = setTimeout(() => abort.abort(), stall);
    link.request();
    fetch(hub.url('/push/sse', channels), { cache: 'no-store', signal: abort.signal, headers: { Accept: 'text/event-stream' } })
      .then(async (res) => {
        if (!res.ok || !res.body || (res.headers.get('Content-Type') ?? '').indexOf('text/event-stream') !== 0) throw new Error('HTTP ' + res.status);
        link.opened();
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffered = '';
        let data: string[] = [];
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          clearTimeout(silent);
          silent = setTimeout(() => abort.abort(), stall);
          link.bytes(value.byteLength);
          buffered += decoder.decode(value, { stream: true });
          const lines = buffered.split(/\r\n|\r|\n/);
          buffered = lines.pop()!;
          for (const line of lines) {
            if (line === '') {
              const m = data.length ? toMessage(data.join('\n')) : null;
              if (m) link.message(m);
              data = [];
              continue;
            }
            // id and event are in the message object too; only data is read.
            if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
          }
        }
      })
      .catch(() => undefined)
      .then(() => {
        clearTimeout(silent);
        if (!stopped) link.ended();
      });
    return () => {
      stopped = true;
      clearTimeout(silent);
      abort.abort();
    };
  }
}

// As an ES module (`pushwire/client`) this file's top level is not global: the
// iframe streams call `parent.pushwire.cb`, so the namespace must be reachable there.
(globalThis as { pushwire?: typeof pushwire }).pushwire ??= pushwire;
