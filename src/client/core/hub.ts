/**
 * A hub: the one connection of a set of listeners to a server — which
 * channels it carries from which cursors, the technique, fallback, backoff,
 * and the way back to the first technique. Its phases and their transitions
 * are the tables of connection-states.ts; the techniques, timers and clock
 * come from the Env, so it runs in Node as it does in a page.
 */
import { ConnectionCursors, follows, formatChannels, lowest } from './cursor.js';
import {
  PROBE_TRANSITIONS, SHOWN, TRANSITIONS,
  type Action, type ConnectionEvent, type Phase, type ProbeAction, type ProbeEvent, type ProbePhase,
} from './connection-states.js';
import { freshStatus, GAP, type Connection, type ConnectionOptions, type Cursors, type Env, type HubStatus, type Link, type Message, type Timer, type Transport } from './types.js';

/** What a hub feeds: a subscription of this page, or one of another page's, relayed. */
export interface Listener {
  readonly channel: string;
  /** The last id it has: a connection opens from the lowest of its channel's listeners. */
  cursor(): number;
  /** `before`: the connection's last id of the channel before `m` (none for a gap). */
  receive(m: Message, before?: number): void;
  /** SSE event names it needs, or undefined for "every event". */
  readonly events: readonly string[] | undefined;
}

/** A listener of this page, also told of every status change. */
export interface Watcher extends Listener {
  hubStatus: HubStatus;
  statusChanged(): void;
}

/** Membership changes within this long are applied together (one re-open for a burst of subscribes). */
const APPLY_DELAY = 15;
const UPGRADE_MAX = 5 * 60_000;
/** A connection that stayed up this long, or delivered something, was healthy: the backoff starts afresh. */
const HEALTHY_AFTER = 5000;

/** One opened connection and how far it has delivered each channel. */
interface Live {
  conn: Connection | null;
  readonly cursors: ConnectionCursors;
  readonly index: number;
  openedAt: number;
  delivered: boolean;
}

export class Hub {
  readonly status: HubStatus;
  private phase: Phase = 'idle';
  private probePhase: ProbePhase = 'none';
  private readonly listeners = new Map<string, Set<Listener>>();
  private live: Live | null = null;
  private probing: Live | null = null;
  private index = 0;
  private failures = 0;
  private attempt = 0;
  /** The backoff of the retry under way. */
  private delay = 0;
  /** The reachability check under way: an answer for an older one is ignored. */
  private check: object | null = null;
  private timer: Timer | undefined;
  private applyTimer: Timer | undefined;
  private probeTimer: Timer | undefined;
  private upgradeDelay: number;
  private readonly watchers = new Set<Watcher>();
  /** Also told of every status change (sharing relays it to the other pages). */
  onStatus: (() => void) | null = null;

  constructor(
    private readonly env: Env,
    readonly base: string,
    readonly order: readonly Transport[],
    readonly options: ConnectionOptions,
    private readonly release: (hub: Hub) => void,
  ) {
    this.status = freshStatus(order[0]!);
    this.upgradeDelay = options.upgradeInterval;
  }

  // ---- listeners ----

  addWatcher(w: Watcher): void {
    this.watchers.add(w);
    w.hubStatus = this.status;
    this.add(w);
    w.statusChanged();
  }

  removeWatcher(w: Watcher): void {
    this.watchers.delete(w);
    this.remove(w);
  }

  add(listener: Listener): void {
    let set = this.listeners.get(listener.channel);
    if (!set) this.listeners.set(listener.channel, (set = new Set()));
    set.add(listener);
    this.touch();
  }

  remove(listener: Listener): void {
    const set = this.listeners.get(listener.channel);
    if (!set || !set.delete(listener)) return;
    if (set.size === 0) this.listeners.delete(listener.channel);
    if (this.listeners.size === 0) this.close();
    else this.touch();
  }

  /** SSE event names every listener needs, or null if one takes every event. */
  private events(): string[] | null {
    const names = new Set<string>([GAP]);
    for (const set of this.listeners.values()) {
      for (const l of set) {
        if (!l.events) return null;
        for (const name of l.events) names.add(name);
      }
    }
    return [...names];
  }

  /** The channels wanted now, each from the lowest cursor of its listeners. */
  private wanted(): Cursors {
    const out: Cursors = new Map();
    for (const [channel, set] of this.listeners) out.set(channel, lowest(Array.from(set, (l) => l.cursor())));
    return out;
  }

  /**
   * Listeners came, went, or a cursor went back (a relayed page re-joined, a
   * reload failed): soon, bring the connection in line with them.
   */
  touch(): void {
    if (this.phase === 'closed' || this.applyTimer !== undefined) return;
    this.applyTimer = this.env.setTimeout(() => {
      this.applyTimer = undefined;
      this.apply();
    }, APPLY_DELAY);
  }

  /** Brings the connection's channels in line with the listeners': in band, or by re-opening from the cursors. */
  private apply(): void {
    if (this.phase === 'idle') return this.fire('start');
    const live = this.live;
    if (!live?.conn || (this.phase !== 'open' && this.phase !== 'connecting')) return;
    const wanted = this.wanted();
    const add: Cursors = new Map();
    const remove: string[] = [];
    for (const [channel, since] of wanted) if (live.cursors.needs(channel, since)) add.set(channel, since);
    for (const channel of live.cursors.carried.keys()) if (!wanted.has(channel)) remove.push(channel);
    if (add.size === 0 && remove.length === 0) return;
    this.probeFire('reshape');
    if (live.conn.update(add, remove)) {
      for (const [channel, since] of add) live.cursors.subscribed(channel, since);
      for (const channel of remove) live.cursors.dropped(channel);
      return;
    }
    // Stop first, then open from the cursors: nothing in between is lost (the server keeps it), and anything delivered twice is dropped by id.
    this.fire('reshape');
  }

  // ---- the phases ----

  private fire(event: ConnectionEvent): void {
    const row = TRANSITIONS[this.phase][event];
    if (!row) return; // stale: nothing to do in this phase
    const [next, ...actions] = row;
    this.phase = next;
    this.status.state = SHOWN[next];
    for (const action of actions) this.run(action);
    if (next !== 'closed') this.changed();
  }

  private run(action: Action): void {
    switch (action) {
      case 'open':
        this.env.clearTimeout(this.timer);
        this.openConnection(this.index, false);
        break;
      case 'stop': {
        const live = this.live;
        this.live = null;
        live?.conn?.stop();
        break;
      }
      case 'stopProbe':
        this.probeFire('stop');
        break;
      case 'healthy':
        this.failures = 0;
        if (this.index > 0) this.probeFire('plan');
        break;
      case 'wait':
        this.timer = this.env.setTimeout(() => this.fire('due'), this.delay);
        break;
      case 'check': {
        // Only if the server answers plain HTTP is the technique to blame (a proxy refusing
        // upgrades, say); if the server is down, keep the technique and wait.
        const check = (this.check = {});
        this.status.requests++;
        const channel = this.listeners.keys().next().value ?? 'pushwire';
        this.env.get(`${this.base}/push/poll?channel=${encodeURIComponent(channel)}`).then((res) => res.ok, () => false).then((reachable) => {
          if (this.check !== check) return;
          this.check = null;
          this.fire(reachable && ++this.failures >= 2 ? 'blamed' : 'down');
        });
        break;
      }
      case 'fallBack':
        this.index++;
        this.failures = 0;
        this.attempt = 0;
        this.status.transport = this.order[this.index]!;
        this.status.fallbacks++;
        break;
      case 'takeProbe': {
        // The first technique works again. It was opened from the cursors while the fallback
        // went on delivering, so it carries everything from there (what both delivered is dropped by id).
        const rec = this.probing!;
        this.probing = null;
        this.probeFire('opened');
        this.live = rec;
        this.index = rec.index;
        this.attempt = 0;
        this.upgradeDelay = this.options.upgradeInterval;
        this.status.transport = this.order[rec.index]!;
        this.status.upgrades++;
        // Channels that changed while it opened.
        this.touch();
        break;
      }
      case 'release':
        this.env.clearTimeout(this.timer);
        this.env.clearTimeout(this.applyTimer);
        this.env.clearTimeout(this.probeTimer);
        this.check = null;
        this.release(this);
        break;
    }
  }

  private probeFire(event: ProbeEvent): void {
    const row = PROBE_TRANSITIONS[this.probePhase][event];
    if (!row) return;
    const [next, ...actions] = row;
    this.probePhase = next;
    for (const action of actions) this.runProbe(action);
  }

  private runProbe(action: ProbeAction): void {
    switch (action) {
      case 'timer': {
        const delay = this.upgradeDelay * (0.75 + this.env.random() / 2);
        this.upgradeDelay = Math.min(UPGRADE_MAX, this.upgradeDelay * 2);
        this.probeTimer = this.env.setTimeout(() => {
          this.probeTimer = undefined;
          // Only from a working fallback; a broken one is retried the usual way.
          this.probeFire(this.index > 0 && this.phase === 'open' && this.live?.openedAt ? 'due' : 'skip');
        }, delay);
        break;
      }
      case 'openProbe':
        this.openConnection(0, true);
        break;
      case 'stopProbe': {
        const probe = this.probing;
        this.probing = null;
        probe?.conn?.stop();
        break;
      }
      case 'cancelTimer':
        this.env.clearTimeout(this.probeTimer);
        this.probeTimer = undefined;
        break;
    }
  }

  /** Opens a connection with technique `index` on the wanted channels, as the live one or as a probe. */
  private openConnection(index: number, probe: boolean): void {
    const rec: Live = { conn: null, cursors: new ConnectionCursors(this.wanted()), index, openedAt: 0, delivered: false };
    const mine = () => this.live === rec || this.probing === rec;
    const link: Link = {
      opened: () => {
        if (rec.openedAt || !mine()) return;
        rec.openedAt = this.env.now();
        this.fire(this.probing === rec ? 'promoted' : 'opened');
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
        if (this.live === rec) this.ended(rec);
        else if (this.probing === rec) this.probeFire('failed');
      },
    };
    if (probe) this.probing = rec;
    else this.live = rec;
    const channels = rec.cursors.carried;
    rec.conn = this.env.connectors[this.order[index]!]({
      base: this.base,
      options: this.options,
      channels,
      events: this.events(),
      url: (path) => `${this.base}${path}?channels=${formatChannels(channels)}`,
    }, link);
  }

  /** The live connection ended or failed: reconnect after a backoff, or fall back if the technique itself fails. */
  private ended(rec: Live): void {
    const wasOpen = rec.openedAt > 0;
    if (wasOpen && (rec.delivered || this.env.now() - rec.openedAt > HEALTHY_AFTER)) this.attempt = 0;
    this.delay = this.backoff();
    this.fire(wasOpen || this.index >= this.order.length - 1 ? 'lost' : 'refused');
  }

  /** Exponential backoff with jitter: half fixed, half random, so a crowd of clients spreads out. */
  private backoff(): number {
    const { retryMin: min, retryMax: max } = this.options;
    const ceiling = Math.min(max, min * 2 ** Math.min(this.attempt++, 16));
    return (ceiling * (1 + this.env.random())) / 2;
  }

  /**
   * A message to the listeners it reaches without a hole: those whose cursor
   * is at least the connection's before it. A listener behind (it joined
   * from an older cursor) gets it once the connection has gone back for it:
   * taking it now would move its cursor past the ids in between.
   */
  private dispatch(rec: Live, m: Message): void {
    if (!m || typeof m.id !== 'number' || typeof m.channel !== 'string') return; // not a message (hostile or broken input)
    const before = rec.cursors.step(m);
    if (before === null) return; // a channel this connection no longer carries
    if (m.event !== GAP) rec.delivered = true;
    const set = this.listeners.get(m.channel);
    if (!set) return;
    for (const listener of Array.from(set)) if (follows(listener.cursor(), before)) listener.receive(m, before);
  }

  changed(): void {
    for (const w of this.watchers) w.statusChanged();
    this.onStatus?.();
  }

  close(): void {
    this.fire('close');
  }
}
