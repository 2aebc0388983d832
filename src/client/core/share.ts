/**
 * One connection per browser: the windows of one origin and server share it
 * (docs/PROTOCOL.md §4.6). One of them, the leader (it holds the Web Lock
 * `pushwire <base>`), runs the hubs for all; the others post their
 * subscriptions to it and get messages back over BroadcastChannel. Each
 * window keeps its own cursors, so a new leader resumes from them.
 */
import { follows, isNew } from './cursor.js';
import type { Hub, Listener } from './hub.js';
import type { Route, Subscriber } from './subscription.js';
import type { Bus, ConnectionOptions, Env, HubStatus, Message, Transport, Windows } from './types.js';

/** What the windows of one origin say to each other (BroadcastChannel `pushwire <base>`). */
export type Post =
  | { t: 'join'; page: string; sub: number; key: string; channel: string; since: number; events: readonly string[] | undefined; options: ConnectionOptions }
  | { t: 'leave'; page: string; sub: number }
  | { t: 'bye'; page: string }
  | { t: 'leader'; page: string }
  /** `at`: the connection's last id of the channel before `m` (none for a gap). */
  | { t: 'm'; key: string; m: Message; at?: number }
  | { t: 'status'; key: string; status: HubStatus };

/** The hubs a route keeps, by key; `make` builds one that forgets itself when it closes. */
export type HubMaker = (hubs: Map<string, Hub>, key: string, order: readonly Transport[], options: ConnectionOptions) => Hub;

/** In the leader's hub, a subscription of another window: its messages are posted, once for all windows. */
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

  receive(m: Message, before?: number): void {
    if (!isNew(this.last, m)) return;
    this.last = m.id;
    this.share.relay(this.key, m, before);
  }
}

export class Share implements Route {
  readonly page: string;
  private role: 'pending' | 'leader' | 'follower' | 'gone' = 'pending';
  private readonly subs = new Set<Subscriber>();
  /** Leader: the shared connections, by technique order. */
  private readonly hubs = new Map<string, Hub>();
  /** Leader: the other windows' subscriptions, by window and number. */
  private readonly relayed = new Map<string, Relayed>();
  /** Follower: the leader's last word on each connection. */
  private readonly statuses = new Map<string, HubStatus>();
  private readonly bus: Bus;
  private readonly lockName: string;
  private unlock: (() => void) | null = null;
  /** The message last posted: a message relayed for several windows goes out once. */
  private lastRelayed: Message | null = null;

  constructor(
    private readonly env: Env,
    private readonly windows: Windows,
    base: string,
    private readonly makeHub: HubMaker,
    /** Where a window goes when the browser refuses it the lock: its own connection. */
    private readonly alone: Route,
  ) {
    this.page = env.random().toString(36).slice(2); // ~52 random bits: unique among a browser's windows
    this.lockName = 'pushwire ' + base;
    this.bus = windows.bus('pushwire ' + base);
    this.bus.onmessage = (ev) => this.heard(ev.data as Post);
    this.elect();
    windows.onHide(() => this.leave());
    // Back from the back/forward cache: start again as a newcomer.
    windows.onRestore(() => {
      if (this.role !== 'gone') return;
      this.role = 'pending';
      this.elect();
    });
  }

  private elect(): void {
    const locks = this.windows.locks;
    // ifAvailable: know at once whether a leader exists, rather than waiting in the queue.
    locks.request(this.lockName, { ifAvailable: true }, (lock) => {
      if (lock) return this.lead();
      this.follow();
      return locks.request(this.lockName, () => this.lead()).then(() => undefined);
    }).catch((err: unknown) => {
      // Locks refused (a sandboxed frame, say): this window alone, with its own connection.
      this.env.report(err);
      this.role = 'gone';
      for (const sub of [...this.subs]) {
        this.detach(sub);
        sub.attach(this.alone);
      }
    });
  }

  attach(sub: Subscriber): void {
    this.subs.add(sub);
    if (this.role === 'leader') this.attachHere(sub);
    else if (this.role === 'follower') this.attachThere(sub);
  }

  detach(sub: Subscriber): void {
    if (!this.subs.delete(sub)) return;
    if (this.role === 'leader') this.hubs.get(sub.key)?.removeWatcher(sub);
    else if (this.role === 'follower') this.post({ t: 'leave', page: this.page, sub: sub.uid });
  }

  touch(sub: Subscriber): void {
    if (this.role === 'leader') this.hubs.get(sub.key)?.touch();
    else if (this.role === 'follower') this.attachThere(sub);
  }

  private hub(key: string, order: readonly Transport[], options: ConnectionOptions): Hub {
    const existed = this.hubs.has(key);
    const hub = this.makeHub(this.hubs, key, order, options);
    if (!existed) hub.onStatus = () => this.post({ t: 'status', key, status: hub.status });
    return hub;
  }

  private attachHere(sub: Subscriber): void {
    sub.role = 'leader';
    this.hub(sub.key, sub.order, sub.connection).addWatcher(sub);
  }

  private attachThere(sub: Subscriber): void {
    sub.role = 'follower';
    sub.hubStatus = this.statuses.get(sub.key) ?? sub.hubStatus;
    this.post({ t: 'join', page: this.page, sub: sub.uid, key: sub.key, channel: sub.channel, since: sub.cursor(), events: sub.events, options: sub.connection });
    sub.statusChanged();
  }

  /** This window holds the lock: run the connections, for its own subscriptions and the others'. */
  private lead(): Promise<void> {
    if (this.role === 'gone') return Promise.resolve();
    this.role = 'leader';
    this.statuses.clear();
    for (const sub of this.subs) this.attachHere(sub);
    // Every other window re-joins with its cursors; the hubs wait a moment to open with all of them.
    this.post({ t: 'leader', page: this.page });
    return new Promise((resolve) => (this.unlock = resolve));
  }

  private follow(): void {
    if (this.role !== 'pending') return;
    this.role = 'follower';
    for (const sub of this.subs) this.attachThere(sub);
  }

  /** The window goes away: the others drop what they relayed for it; the lock passes on. */
  leave(): void {
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

  /** Posted once for every window; each takes it only if it follows on from its cursor (`at`), as the hub does. */
  relay(key: string, m: Message, at?: number): void {
    if (this.lastRelayed === m) return;
    this.lastRelayed = m;
    this.post({ t: 'm', key, m, at });
  }

  /** Posts hold only what JSON gave (messages) and plain records, which always clone; the channel is never closed. */
  private post(p: Post): void {
    this.bus.postMessage(p);
  }

  private heard(p: Post): void {
    if (!p || typeof p !== 'object') return;
    if (this.role === 'leader') this.heardAsLeader(p);
    else if (this.role === 'follower') this.heardAsFollower(p);
  }

  private heardAsLeader(p: Post): void {
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
  }

  private heardAsFollower(p: Post): void {
    if (p.t === 'm') {
      // A window behind (it joined from an older cursor) waits for the replay the leader makes for it.
      for (const sub of this.subs) if (sub.key === p.key && follows(sub.cursor(), p.at)) sub.receive(p.m);
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

  private drop(id: string): void {
    const relayed = this.relayed.get(id);
    if (!relayed) return;
    this.relayed.delete(id);
    this.hubs.get(relayed.key)?.remove(relayed);
  }
}
