/**
 * Small helpers shared by the bench scripts: options, timing, child processes
 * and the ours / ws / ratio table every script prints.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (build/bench/ -> ../../). */
export const ROOT = path.resolve(BENCH_DIR, '..', '..');

/**
 * BENCH_SCALE (env) or --scale=N scales every count and time budget; the
 * smoke test runs with a tiny scale so the scripts are exercised, not measured.
 */
export function benchScale(): number {
  const arg = process.argv.find((a) => a.startsWith('--scale='));
  const raw = arg ? arg.slice('--scale='.length) : process.env.BENCH_SCALE;
  const n = raw === undefined ? 1 : Number(raw);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface Row {
  name: string;
  unit: string;
  ours: number | null;
  ws: number | null;
  /** 'higher' when a bigger figure is better (throughput), 'lower' for costs (CPU, bytes). */
  better: 'higher' | 'lower';
  /** Target ratio (ours relative to ws, in the "better" direction), for the verdict column. */
  target?: number;
  note?: string;
}

export function fmt(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** "advantage" ratio: > 1 means ours is better, whichever the direction. */
export function advantage(row: Row): number | null {
  if (row.ours === null || row.ws === null || row.ours === 0 || row.ws === 0) return null;
  return row.better === 'higher' ? row.ours / row.ws : row.ws / row.ours;
}

export function printTable(title: string, rows: Row[], wsLabel = 'ws'): void {
  const header = ['', 'unit', 'ours', wsLabel, 'ours/ws', 'target', ''];
  const lines: string[][] = [header];
  for (const r of rows) {
    const adv = advantage(r);
    const raw = r.ours !== null && r.ws !== null && r.ws !== 0 ? r.ours / r.ws : null;
    const target = r.target === undefined ? '' : r.better === 'higher' ? `>=${r.target}x` : `<=${(1 / r.target).toFixed(2)}x`;
    // Targets are set for full-size runs: a scaled-down run (the smoke test) says nothing about them.
    const verdict = r.target === undefined || adv === null ? '' : benchScale() !== 1 ? 'n/a (scaled)' : adv >= r.target ? 'met' : 'MISSED';
    lines.push([r.name, r.unit, fmt(r.ours), fmt(r.ws), raw === null ? '-' : raw.toFixed(2) + 'x', target,
      verdict + (r.note ? (verdict ? '  ' : '') + r.note : '')]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  process.stdout.write(`\n## ${title}\n`);
  for (const l of lines) {
    process.stdout.write(l.map((c, i) => (i === 0 || i === l.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd() + '\n');
  }
}

/** A child process that speaks JSON over IPC: request(cmd) -> its reply. */
export class Worker {
  readonly child: ChildProcess;
  private nextId = 1;
  private waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();

  constructor(script: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env, execArgv: string[] = []) {
    this.child = fork(path.join(BENCH_DIR, script), args, { env, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (msg: any) => {
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.error) w.reject(new Error(msg.error));
      else w.resolve(msg.result);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`${script} exited with ${code}`));
      this.waiting.clear();
    });
  }

  request<T = any>(cmd: string, arg?: unknown): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, cmd, arg });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** The child side of Worker: answers requests with handlers[cmd](arg). */
export function serveRequests(handlers: Record<string, (arg: any) => unknown>): void {
  process.on('message', async (msg: any) => {
    try {
      const h = handlers[msg.cmd];
      if (!h) throw new Error(`unknown command ${msg.cmd}`);
      const result = await h(msg.arg);
      process.send!({ id: msg.id, result });
    } catch (err) {
      process.send!({ id: msg.id, error: (err as Error).stack ?? String(err) });
    }
  });
  // The parent going away ends us too.
  process.on('disconnect', () => process.exit(0));
}

/** CPU microseconds (user + system) of this process so far. */
export function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function hasBufferutil(): boolean {
  try {
    const req = createRequireHere();
    req('bufferutil');
    return true;
  } catch {
    return false;
  }
}

export function createRequireHere(): NodeRequire {
  return createRequire(path.join(ROOT, 'package.json'));
}

/** A module of ws's lib/ folder, which its package "exports" does not expose. */
export function wsLib(name: string): any {
  return createRequireHere()(path.join(ROOT, 'node_modules', 'ws', 'lib', name));
}
