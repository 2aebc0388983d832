// A real redis-server for one test: started on a free port, stopped by its pid.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The redis-server binary, or null when it is not installed. */
export function findRedisServer(): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    if (!dir) continue;
    const file = path.join(dir, 'redis-server');
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The `skip` option of a test that needs redis-server: false when it is
 * installed, else the reason. Under CI=true a missing redis-server fails the
 * test instead (.ci/run installs it), so CI cannot pass by skipping.
 */
export function redisSkip(): false | string {
  if (findRedisServer()) return false;
  if (process.env.CI === 'true') return false;
  return 'redis-server is not installed (apt-get install redis-server); skipping the Redis tests';
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  /** `--appendonly yes --appendfsync always`: data survives a restart. Default: nothing persisted. */
  persist?: boolean;
}

/** Every redis-server this process started: none outlives the test file, whatever failed. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** One redis-server process (restartable on the same port and directory). */
export class RedisServer {
  private child: ChildProcess | null = null;

  private constructor(readonly binary: string, readonly port: number, readonly dir: string, private readonly options: RedisServerOptions) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts redis-server on a free port; fails the test when it is not installed. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const binary = findRedisServer();
    if (!binary) throw new Error('redis-server is not installed (apt-get install redis-server)');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushwire-redis-'));
    // Another process may take the free port between the check and the bind: try a few.
    for (let attempt = 0; ; attempt++) {
      const server = new RedisServer(binary, await freePort(), dir, options);
      try {
        await server.spawn();
        return server;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  }

  /** Starts it again on the same port (after stop()). */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is running');
    await this.spawn();
  }

  /** Stops it (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid!, signal);
    await exited;
  }

  private spawn(): Promise<void> {
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--save', '', '--daemonize', 'no', '--loglevel', 'notice', '--logfile', '',
      ...(this.options.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`redis-server not ready in 10 s:\n${out}`));
      }, 10_000);
      const onData = (chunk: Buffer) => {
        out += chunk;
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          child.stderr!.resume();
          this.child = child;
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (chunk) => { out += chunk; });
      child.once('exit', (code) => {
        running.delete(child);
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${out}`));
      });
    });
  }
}
