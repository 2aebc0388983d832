import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPushwireServer, type PushwireServer, type PushwireServerOptions } from '../../src/pushwire-server.js';

/** The package root, seen from build/test/app. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function tempDataDir(prefix = 'pushwire-app-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface RunningServer {
  server: PushwireServer;
  port: number;
  base: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** A real server in this process on 127.0.0.1 (port 0 unless given), quiet. */
export async function startServer(
  settings: { capacity?: number; dataDir?: string; port?: number } = {},
  options: PushwireServerOptions = {},
): Promise<RunningServer> {
  const dataDir = settings.dataDir ?? tempDataDir();
  const server = createPushwireServer(
    { port: settings.port ?? 0, host: '127.0.0.1', capacity: settings.capacity ?? 100, dataDir, maxMessage: 16 * 1024 * 1024 },
    { log: () => {}, ...options },
  );
  const { port } = await server.listen();
  return { server, port, base: `http://127.0.0.1:${port}`, dataDir, stop: () => server.shutdown() };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/** One HTTP request on a fresh connection (so that hundreds run really concurrently). */
export function request(base: string, method: string, pathname: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + pathname, { method, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${pathname}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function register(base: string, name: string): Promise<Answer> {
  return request(base, 'POST', '/api/registrations', JSON.stringify({ name }));
}

/** `node dist/server.js` as a child process; resolves once it printed its `listening on` line. */
export async function spawnServer(args: string[]): Promise<{ child: ChildProcess; port: number; base: string; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/server.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${stderr}`));
    }, 10_000);
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)\n/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited ${code}: ${stderr}`));
    });
  });
  return { child, port, base: `http://127.0.0.1:${port}`, stderr: () => stderr, exited };
}
