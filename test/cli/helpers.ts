import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** dist/server.js of this checkout (tests run from build/test/...). */
export const SERVER = resolve(import.meta.dirname, '../../../dist/server.js');

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'pushwire-cli-'));
}

export interface Started {
  child: ChildProcess;
  port: number;
  host: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns the server and waits for its "listening on" line (rejects if it exits or takes over 10 s).
 * `executable`: a file run by itself, through its `#!` line, instead of `node dist/server.js`.
 */
export function startServer(args: string[], env: NodeJS.ProcessEnv = {}, executable?: string): Promise<Started> {
  const [command, commandArgs] = executable ? [executable, args] : [process.execPath, [SERVER, ...args]];
  const child = spawn(command, commandArgs, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`no listening line in 10 s; stderr: ${err}`)); }, 10_000);
    child.stdout!.on('data', () => {
      const m = /listening on http:\/\/([^\s]+):(\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        res({ child, host: m[1]!, port: Number(m[2]), stdout: () => out, stderr: () => err, exited });
      }
    });
    exited.then(({ code }) => { clearTimeout(timer); rej(new Error(`server exited ${code} before listening; stderr: ${err}`)); });
  });
}

/** Runs the server expecting it to exit by itself (bad flags, --help); resolves with its exit and output. */
export function runToExit(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [SERVER, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  return new Promise((res) => child.on('exit', (code) => { clearTimeout(timer); res({ code, stdout, stderr }); }));
}
