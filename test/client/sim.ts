// A browser and a server in virtual time, for the client core (src/client/core): the
// five techniques as the server answers them (docs/PROTOCOL.md §3), a log that can lose
// its old messages, techniques that can be refused (a proxy), connections that drop,
// and windows with BroadcastChannel and Web Locks. Nothing here touches a socket or a
// real timer, so a schedule runs the same on every machine, replayable by its seed.
import type { Answer, Bus, Connection, Connector, Env, Link, Locks, Message, Opening, PollAnswer, Transport, Windows } from '../../src/client/core/types.js';

const GAP = 'push:gap';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Virtual time: timers run in order of their time, then of their setting. */
export class Clock {
  now = 0;
  private seq = 0;
  private readonly queue: Timer[] = [];

  set(fn: () => void, ms: number): Timer {
    const t: Timer = { at: this.now + Math.max(0, ms || 0), seq: this.seq++, fn, cancelled: false };
    // Binary insertion: the queue stays sorted by (at, seq).
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const q = this.queue[mid]!;
      if (q.at < t.at || (q.at === t.at && q.seq < t.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, t);
    return t;
  }

  clear(t: unknown): void {
    if (t) (t as Timer).cancelled = true;
  }

  /** Runs the next timer due by `until`; false when none is. */
  step(until: number): boolean {
    while (this.queue.length) {
      const t = this.queue[0]!;
      if (t.at > until) return false;
      this.queue.shift();
      if (t.cancelled) continue;
      this.now = t.at;
      t.fn();
      return true;
    }
    return false;
  }
}

interface Log {
  messages: Message[];
  last: number;
  /** The highest id ever dropped by retention (0: none). */
  trimmedTo: number;
}

interface Stream {
  kind: Transport;
  link: Link;
  subscribed: Set<string>;
  closed: boolean;
  /** When its last frame reaches the client: frames arrive in order. */
  arrives: number;
}

interface HeldPoll {
  cursors: Map<string, number>;
  answer: (a: PollAnswer) => void;
  timeout: unknown;
}

/** The server: one log per channel and the connections reading it. */
export class Server {
  readonly logs = new Map<string, Log>();
  readonly refused = new Set<Transport>();
  readonly streams = new Set<Stream>();
  readonly held = new Set<HeldPoll>();
  /** Every open poll loop and stream, so a schedule can drop one. */
  readonly live = new Set<{ drop(): void }>();

  constructor(readonly clock: Clock, readonly random: () => number) {}

  latency(): number {
    return 1 + Math.floor(this.random() * 20);
  }

  log(channel: string): Log {
    let log = this.logs.get(channel);
    if (!log) this.logs.set(channel, (log = { messages: [], last: 0, trimmedTo: 0 }));
    return log;
  }

  publish(channel: string): void {
    const log = this.log(channel);
    const m: Message = { channel, id: ++log.last, event: 'x', data: log.last };
    log.messages.push(m);
    for (const s of this.streams) if (s.subscribed.has(channel)) this.frame(s, m);
    for (const p of [...this.held]) if (p.cursors.has(channel)) this.wake(p);
  }

  /** Retention: keep only the last `keep` messages. */
  trim(channel: string, keep: number): void {
    const log = this.log(channel);
    const drop = log.messages.length - keep;
    if (drop <= 0) return;
    log.trimmedTo = log.messages[drop - 1]!.id;
    log.messages.splice(0, drop);
  }

  /** What a cursor gets: the gap verdict of docs/PROTOCOL.md §3.2 and what is retained after it. */
  read(channel: string, since: number): { gap: boolean; last: number; after: Message[] } {
    const log = this.log(channel);
    const oldest = log.messages.length ? log.messages[0]!.id : log.last + 1;
    const gap = since < oldest - 1 || since > log.last;
    return { gap, last: log.last, after: log.messages.filter((m) => m.id > since) };
  }

  frame(s: Stream, m: Message): void {
    s.arrives = Math.max(s.arrives, this.clock.now + this.latency());
    // Each connection parses its own copy, as a browser's would.
    const copy = { ...m };
    this.clock.set(() => {
      if (!s.closed) s.link.message(copy);
    }, s.arrives - this.clock.now);
  }

  /** A streaming subscription: the backlog (or the gap, then live after L), atomically with joining. */
  subscribe(s: Stream, channel: string, since: number): void {
    if (s.subscribed.has(channel)) return; // subscribing again changes nothing, as on the server
    s.subscribed.add(channel);
    const r = this.read(channel, since);
    if (r.gap) this.frame(s, { channel, id: r.last, event: GAP, data: null });
    else for (const m of r.after) this.frame(s, m);
  }

  pollAnswer(cursors: Map<string, number>): PollAnswer | null {
    const a: PollAnswer = { messages: [], last: {}, gap: {} };
    let news = false;
    for (const [channel, since] of cursors) {
      const r = this.read(channel, since);
      a.last[channel] = r.last;
      a.gap[channel] = r.gap;
      a.messages.push(...r.after);
      if (r.gap || r.after.length) news = true;
    }
    return news ? a : null;
  }

  wake(p: HeldPoll): void {
    const a = this.pollAnswer(p.cursors);
    if (!a) return;
    this.held.delete(p);
    this.clock.clear(p.timeout);
    p.answer(a);
  }
}

/** The server's answer to GET /push/poll?channel=C (learning a cursor, checking reachability). */
function get(server: Server, url: string): Promise<Answer> {
  return new Promise((resolve) => {
    server.clock.set(() => {
      const channel = decodeURIComponent(/channel=([^&]*)/.exec(url)?.[1] ?? '');
      const last = server.log(channel).last;
      resolve({ ok: true, status: 200, json: async () => ({ messages: [], last, gap: false }) });
    }, 2 * server.latency());
  });
}

function streaming(server: Server, kind: Transport): Connector {
  return (opening: Opening, link: Link): Connection => {
    const s: Stream = { kind, link, subscribed: new Set(), closed: false, arrives: 0 };
    const from = new Map(opening.channels); // the URL is made now
    /** In-band changes, in order, each reaching the server after the one before. */
    let upstream = 0;
    const toServer = (fn: () => void) => {
      upstream = Math.max(upstream, server.clock.now + server.latency());
      server.clock.set(() => !s.closed && fn(), upstream - server.clock.now);
    };
    const handle = { drop: () => end() };
    const end = () => {
      if (s.closed) return;
      s.closed = true;
      server.streams.delete(s);
      server.live.delete(handle);
      s.arrives = Math.max(s.arrives, server.clock.now + server.latency());
      server.clock.set(() => link.ended(), s.arrives - server.clock.now);
    };
    link.request();
    toServer(() => {
      if (server.refused.has(kind)) return end();
      server.streams.add(s);
      server.live.add(handle);
      s.arrives = Math.max(s.arrives, server.clock.now + server.latency());
      server.clock.set(() => !s.closed && link.opened(), s.arrives - server.clock.now);
      for (const [channel, since] of from) server.subscribe(s, channel, since);
    });
    return {
      update(add, remove) {
        if (kind !== 'websocket' || s.closed) return false;
        for (const channel of remove) toServer(() => s.subscribed.delete(channel));
        for (const [channel, since] of add) {
          toServer(() => {
            s.subscribed.delete(channel);
            server.subscribe(s, channel, since);
          });
        }
        return true;
      },
      stop() {
        s.closed = true;
        server.streams.delete(s);
        server.live.delete(handle);
      },
    };
  };
}

function polling(server: Server, long: boolean): Connector {
  return (opening: Opening, link: Link): Connection => {
    let stopped = false;
    let inFlight: { fail(): void } | null = null;
    const handle = { drop: () => inFlight?.fail() };
    server.live.add(handle);
    const once = () => {
      if (stopped) return;
      link.request();
      const cursors = new Map(opening.channels); // the URL of this request
      let settled = false;
      const reply = (fn: () => void) => {
        if (settled) return;
        settled = true;
        inFlight = null;
        server.clock.set(() => !stopped && fn(), server.latency());
      };
      inFlight = { fail: () => reply(() => link.ended()) };
      const held = long ? server.clock.set(() => !settled && !stopped && link.opened(), 1000) : null;
      server.clock.set(() => {
        if (stopped || settled) return;
        if (server.refused.has(long ? 'longpoll' : 'poll')) return inFlight?.fail();
        const answered = (a: PollAnswer) =>
          reply(() => {
            server.clock.clear(held);
            link.opened();
            link.answer(structuredClone(a));
            server.clock.set(once, long ? 0 : opening.options.pollInterval);
          });
        const a = server.pollAnswer(cursors);
        if (a || !long) return answered(a ?? emptyAnswer(server, cursors));
        const p: HeldPoll = { cursors, answer: answered, timeout: null };
        p.timeout = server.clock.set(() => {
          server.held.delete(p);
          answered(emptyAnswer(server, cursors));
        }, opening.options.longPollTimeout);
        server.held.add(p);
        const fail = inFlight!.fail;
        inFlight = {
          fail: () => {
            server.held.delete(p);
            server.clock.clear(p.timeout);
            fail();
          },
        };
      }, server.latency());
    };
    once();
    return {
      update: () => false,
      stop() {
        stopped = true;
        server.live.delete(handle);
        inFlight?.fail();
      },
    };
  };
}

function emptyAnswer(server: Server, cursors: Map<string, number>): PollAnswer {
  const a: PollAnswer = { messages: [], last: {}, gap: {} };
  for (const channel of cursors.keys()) {
    a.last[channel] = server.log(channel).last;
    a.gap[channel] = false;
  }
  return a;
}

export function connectors(server: Server): Record<Transport, Connector> {
  return {
    websocket: streaming(server, 'websocket'),
    sse: streaming(server, 'sse'),
    iframe: streaming(server, 'iframe'),
    longpoll: polling(server, true),
    poll: polling(server, false),
  };
}

interface LockRequest {
  win: Window;
  fn: (lock: unknown) => unknown;
  resolve: (v: unknown) => void;
}

/** The windows of one browser: BroadcastChannel between them, Web Locks over them. */
export class Browser {
  private readonly buses = new Map<string, Set<{ win: Window; bus: Bus }>>();
  private readonly holders = new Map<string, Window>();
  private readonly queues = new Map<string, LockRequest[]>();

  constructor(readonly clock: Clock, readonly random: () => number) {}

  bus(win: Window, name: string): Bus {
    let set = this.buses.get(name);
    if (!set) this.buses.set(name, (set = new Set()));
    let arrives = 0;
    const bus: Bus = {
      onmessage: null,
      postMessage: (data) => {
        if (win.closed) return;
        const copy = structuredClone(data);
        // One sender's posts arrive in order.
        arrives = Math.max(arrives, this.clock.now + 1 + Math.floor(this.random() * 10));
        for (const other of set!) {
          if (other.bus === bus) continue;
          this.clock.set(() => !other.win.closed && other.bus.onmessage?.({ data: copy }), arrives - this.clock.now);
        }
      },
    };
    set.add({ win, bus });
    return bus;
  }

  locks(win: Window): Locks {
    const request = (name: string, a: unknown, b?: unknown): Promise<unknown> =>
      new Promise((resolve) => {
        const ifAvailable = typeof a === 'object';
        const fn = (ifAvailable ? b : a) as (lock: unknown) => unknown;
        this.clock.set(() => {
          if (win.closed) return;
          if (!this.holders.has(name)) return this.grant(name, { win, fn, resolve });
          if (ifAvailable) return resolve(Promise.resolve().then(() => fn(null)));
          let q = this.queues.get(name);
          if (!q) this.queues.set(name, (q = []));
          q.push({ win, fn, resolve });
        }, 1);
      });
    return { request } as Locks;
  }

  private grant(name: string, r: LockRequest): void {
    this.holders.set(name, r.win);
    const done = Promise.resolve().then(() => r.fn({ name }));
    r.win.held.add(name);
    done.then(
      () => this.release(name, r.win),
      () => this.release(name, r.win),
    );
    r.resolve(done);
  }

  /** A lock is let go: its holder's callback settled, or the holder's window closed. */
  release(name: string, win: Window): void {
    if (this.holders.get(name) !== win) return;
    this.holders.delete(name);
    win.held.delete(name);
    const q = this.queues.get(name) ?? [];
    let next: LockRequest | undefined;
    while ((next = q.shift()) && next.win.closed);
    if (next) {
      const r = next;
      this.clock.set(() => this.grant(name, r), 1);
    }
  }
}

/** One window: its own Env over the shared clock, server and browser. */
export class Window {
  closed = false;
  readonly held = new Set<string>();
  private readonly hide: (() => void)[] = [];
  readonly env: Env;

  constructor(readonly browser: Browser, server: Server, readonly id: number) {
    const clock = server.clock;
    const windows: Windows = {
      bus: (name) => browser.bus(this, name),
      locks: browser.locks(this),
      onHide: (fn) => this.hide.push(fn),
      onRestore: () => undefined,
    };
    this.env = {
      now: () => clock.now,
      random: server.random,
      setTimeout: (fn, ms) => clock.set(() => !this.closed && fn(), ms),
      clearTimeout: (t) => clock.clear(t),
      report: () => undefined,
      get: (url) => get(server, url),
      connectors: connectors(server),
      windows,
      origin: 'http://sim',
    };
  }

  /** pagehide, then the page is gone: its locks are let go and its posts stop. */
  close(): void {
    for (const fn of this.hide) fn();
    this.closed = true;
    for (const name of [...this.held]) this.browser.release(name, this);
  }
}
