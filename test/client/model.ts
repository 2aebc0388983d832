// The model-based check of the client core: a seeded random schedule of publishes, joins,
// leaves, drops, refused techniques (fallback) and their return (re-upgrade), lost
// history (gaps, reloads that return older ids), windows opening and closing (leader
// takeover and relays), run in virtual time against an oracle: every listener gets each
// id of its channel once and in order, a gap or a reload standing for the ids it covers,
// and in the end every listener still open has caught up with its channel.
import type { createClient as CreateClient } from '../../src/client/core/client.js';
import type { Message, Subscription, Transport } from '../../src/client/core/types.js';
import { prng } from '../protocol/helpers.js';
import { Browser, Clock, Server, Window } from './sim.js';

const GAP = 'push:gap';
const TRANSPORTS: Transport[] = ['websocket', 'sse', 'iframe', 'longpoll', 'poll'];
const CHANNELS = ['a', 'b', 'c'];

type Entry = { kind: 'message' | 'gap' | 'reload'; id: number; at: number };

interface Watched {
  label: string;
  win: Window;
  channel: string;
  since: number;
  sub: Subscription;
  seen: Entry[];
  closed: boolean;
}

export interface Outcome {
  seed: number;
  ok: boolean;
  /** What went wrong, and the schedule that led there (to replay it). */
  problem?: string;
  ops: string[];
  delivered: number;
  /** How much of what can happen this schedule made happen: a check that never reached it proves nothing. */
  seen: Coverage;
}

export interface Coverage {
  fallbacks: number;
  upgrades: number;
  gaps: number;
  reloads: number;
  takeovers: number;
  followers: number;
}

/** Microtasks: the core's promise chains (onGap, locks, fetch answers) settle before the next timer. */
async function settle(): Promise<void> {
  for (let i = 0; i < 12; i++) await null;
}

export async function runSchedule(createClient: typeof CreateClient, seed: number): Promise<Outcome> {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const clock = new Clock();
  const server = new Server(clock, random);
  const browser = new Browser(clock, random);
  const windows: { win: Window; client: ReturnType<typeof CreateClient> }[] = [];
  const watched: Watched[] = [];
  const ops: string[] = [];
  let nextWindow = 0;
  const coverage: Coverage = { fallbacks: 0, upgrades: 0, gaps: 0, reloads: 0, takeovers: 0, followers: 0 };

  const openWindow = () => {
    const win = new Window(browser, server, ++nextWindow);
    windows.push({ win, client: createClient(win.env) });
    ops.push(`${clock.now} open window ${win.id}`);
  };

  const join = () => {
    const open = windows.filter((w) => !w.win.closed);
    if (!open.length) return;
    const { win, client } = pick(open);
    const channel = pick(CHANNELS);
    const last = server.log(channel).last;
    const since = pick([last, last, Math.max(0, last - 1 - Math.floor(random() * 6)), 0]);
    const share = random() < 0.85;
    const order = pick<readonly Transport[]>([TRANSPORTS, TRANSPORTS, ['websocket', 'longpoll'], ['sse', 'poll'], [pick(TRANSPORTS)]]);
    const reloads = random() < 0.5;
    const label = `w${win.id}:${channel}#${watched.length}`;
    const seen: Entry[] = [];
    const onGap = reloads
      ? (l: number) =>
        new Promise<number | void>((resolve, reject) => {
          // The page reloads its state: as of the gap's id, of an older id still retained, or
          // it says nothing (the gap's id stands); now and then the reload fails.
          const log = server.log(channel);
          const r = random();
          clock.set(() => {
            if (r < 0.15) return reject(new Error('reload failed'));
            if (r < 0.3) {
              seen.push({ kind: 'reload', id: l, at: clock.now });
              return resolve(undefined);
            }
            const oldest = Math.max(log.trimmedTo, 0);
            const older = r < 0.6 && l > oldest ? oldest + Math.floor(random() * (l - oldest + 1)) : l;
            seen.push({ kind: 'reload', id: older, at: clock.now });
            resolve(older);
          }, 5 + Math.floor(random() * 30));
        })
      : undefined;
    const sub = client.subscribe(
      channel,
      (m: Message) => seen.push({ kind: m.event === GAP ? 'gap' : 'message', id: m.id, at: clock.now }),
      {
        since, share, transport: order, onGap, base: 'http://sim',
        pollInterval: 200, longPollTimeout: 1000, stallTimeout: 5000, retryMin: 50, retryMax: 400, upgradeInterval: 1500,
      },
    );
    watched.push({ label, win, channel, since, sub, seen, closed: false });
    ops.push(`${clock.now} join ${label} since ${since}${share ? '' : ' alone'} [${order.join(',')}]${reloads ? ' reloads' : ''}`);
  };

  const actions: [number, () => void][] = [
    [30, () => {
      const channel = pick(CHANNELS);
      server.publish(channel);
      ops.push(`${clock.now} publish ${channel}@${server.log(channel).last}`);
    }],
    [12, join],
    [4, () => {
      const open = watched.filter((w) => !w.closed && !w.win.closed);
      if (!open.length) return;
      const w = pick(open);
      w.closed = true;
      w.sub.close();
      ops.push(`${clock.now} leave ${w.label}`);
    }],
    [5, () => {
      const live = [...server.live];
      if (!live.length) return;
      pick(live).drop();
      ops.push(`${clock.now} drop a connection`);
    }],
    [3, () => {
      const t = pick<Transport>(['websocket', 'websocket', 'sse', 'longpoll']);
      server.refused.add(t);
      ops.push(`${clock.now} refuse ${t}`);
    }],
    [3, () => {
      const t = pick([...server.refused, 'websocket' as Transport]);
      server.refused.delete(t);
      ops.push(`${clock.now} allow ${t}`);
    }],
    [3, () => {
      const channel = pick(CHANNELS);
      const keep = Math.floor(random() * 3);
      server.trim(channel, keep);
      ops.push(`${clock.now} trim ${channel} to ${keep} (lost up to ${server.log(channel).trimmedTo})`);
    }],
    [2, openWindow],
    [2, () => {
      const open = windows.filter((w) => !w.win.closed);
      if (open.length < 2) return;
      const w = pick(open);
      const leader = w.win.held.size > 0;
      if (leader) coverage.takeovers++;
      w.win.close();
      ops.push(`${clock.now} close window ${w.win.id}${leader ? ' (the leader)' : ''}`);
    }],
  ];
  const total = actions.reduce((n, [w]) => n + w, 0);
  const act = () => {
    let r = random() * total;
    for (const [w, fn] of actions) if ((r -= w) < 0) return fn();
  };

  openWindow();
  openWindow();
  for (let i = 0; i < 3; i++) join();
  const steps = 20 + Math.floor(random() * 40);
  let at = 0;
  for (let i = 0; i < steps; i++) {
    at += Math.floor(random() * 150);
    clock.set(act, at - clock.now);
  }
  // Heal: every technique allowed again, then time to catch up (backoffs, probes, polls).
  const healAt = at + 1;
  clock.set(() => {
    server.refused.clear();
    ops.push(`${clock.now} allow all`);
  }, healAt - clock.now);
  // Until every listener still open has caught up (and a while after, for doubles), or a bound.
  let end = healAt + 20_000;
  let ran = 0;
  await settle();
  while (clock.step(end)) {
    await settle();
    if (++ran % 64 === 0 && end === healAt + 20_000 && clock.now > healAt && allCaughtUp(watched, server)) end = clock.now + 2000;
  }

  let delivered = 0;
  for (const w of watched) {
    delivered += w.seen.length;
    const stats = w.sub.stats;
    coverage.fallbacks += stats.fallbacks;
    coverage.upgrades += stats.upgrades;
    if (stats.role === 'follower') coverage.followers++;
    for (const e of w.seen) if (e.kind === 'gap') coverage.gaps++;
    for (const e of w.seen) if (e.kind === 'reload') coverage.reloads++;
    const problem = check(w, server) ?? (!w.closed && !w.win.closed ? caughtUp(w, server) : null);
    if (problem) return { seed, ok: false, problem: `${w.label}: ${problem}`, ops, delivered, seen: coverage };
  }
  for (const w of windows) w.win.close();
  return { seed, ok: true, ops, delivered, seen: coverage };
}

/** Each id once and in order: a message must be the one after what the listener covers. */
function check(w: Watched, server: Server): string | null {
  let covered = w.since;
  for (const e of w.seen) {
    if (e.kind === 'message') {
      if (e.id !== covered + 1) return `got ${e.id} after ${covered} (${e.id <= covered ? 'a double' : 'a loss'}); saw ${describe(w)}`;
      covered = e.id;
    } else if (e.kind === 'gap') {
      if (e.id < covered || server.log(w.channel).trimmedTo === 0) return `a gap at ${e.id} after ${covered} with nothing lost; saw ${describe(w)}`;
      covered = e.id;
    } else {
      covered = e.id;
    }
  }
  return null;
}

function caughtUp(w: Watched, server: Server): string | null {
  const last = server.log(w.channel).last;
  const covered = w.seen.length ? w.seen[w.seen.length - 1]!.id : w.since;
  return covered === last ? null : `stuck at ${covered}, the channel is at ${last}; saw ${describe(w)}`;
}

function allCaughtUp(watched: Watched[], server: Server): boolean {
  return watched.every((w) => w.closed || w.win.closed || caughtUp(w, server) === null);
}

function describe(w: Watched): string {
  return w.seen.map((e) => (e.kind === 'message' ? `${e.id}` : `${e.kind} ${e.id}`)).join(' ') || 'nothing';
}
