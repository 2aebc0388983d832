import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ConfigError, parseConfig } from '../../src/config.js';
import { runToExit, SERVER, startServer, tempDataDir } from '../cli/helpers.js';
import { freePort, RedisServer, redisSkip } from './redis-server.js';

const skip = redisSkip();

/** Resolves once the child's stderr holds `text`. */
function stderrHas(child: { stderr: NodeJS.ReadableStream | null }, text: string, seen: () => string): Promise<void> {
  return new Promise((resolve) => {
    if (seen().includes(text)) return resolve();
    const check = () => {
      if (!seen().includes(text)) return;
      child.stderr!.off('data', check);
      resolve();
    };
    child.stderr!.on('data', check);
  });
}

test('--redis and REDIS_URL: a redis:// or rediss:// URL; anything else is a bad flag', () => {
  assert.equal((parseConfig(['--redis', 'redis://127.0.0.1:6379'], {}) as { redis?: string }).redis, 'redis://127.0.0.1:6379');
  assert.equal((parseConfig([], { REDIS_URL: 'rediss://:pw@h:1/2' }) as { redis?: string }).redis, 'rediss://:pw@h:1/2');
  assert.equal((parseConfig(['--redis=redis://a:1'], { REDIS_URL: 'redis://b:2' }) as { redis?: string }).redis, 'redis://a:1', 'the flag wins');
  assert.equal((parseConfig([], {}) as { redis?: string }).redis, undefined, 'in memory by default');
  for (const [argv, env, name] of [[['--redis', 'http://h:1'], {}, '--redis'], [['--redis', 'nope'], {}, '--redis'], [[], { REDIS_URL: 'x' }, 'REDIS_URL']] as const) {
    assert.throws(() => parseConfig([...argv], env), (err: unknown) => err instanceof ConfigError && err.message.includes(name));
  }
});

test('the server exits 2 with one line for a bad --redis, without echoing it', async () => {
  const { code, stderr } = await runToExit(['--port', '0', '--redis', 'http://:secret@h:1']);
  assert.equal(code, 2);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.match(stderr, /--redis/);
  assert.doesNotMatch(stderr, /secret/);
});

test('Redis unreachable at start: one line on stderr, exit 1 (password hidden)', async () => {
  const port = await freePort(); // nothing listens there
  for (const [args, env] of [[['--redis', `redis://:secret@127.0.0.1:${port}`], {}], [[], { REDIS_URL: `redis://127.0.0.1:${port}` }]] as const) {
    const { code, stderr, stdout } = await runToExit(['--port', '0', '--data-dir', tempDataDir(), ...args], env);
    assert.equal(code, 1, stderr);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr, new RegExp(`cannot reach Redis at redis://.*127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(stderr, /secret/);
    assert.equal(stdout, '');
  }
});

test('--redis without ioredis installed: exit 2 and what to install; without --redis the same copy needs nothing', async () => {
  // The built server copied where `ioredis` cannot be resolved: the real import fails.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushwire-noioredis-'));
  const dist = path.dirname(SERVER);
  fs.cpSync(dist, path.join(dir, 'dist'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  const server = path.join(dir, 'dist', 'server.js');
  assert.throws(() => createRequire(server).resolve('ioredis'), 'ioredis must not be resolvable from the copy');

  const run = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [server, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdout.on('data', (d) => { if (String(d).includes('listening on')) child.kill('SIGTERM'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
  const withFlag = await run(['--port', '0', '--data-dir', tempDataDir(), '--redis', 'redis://127.0.0.1:6379']);
  assert.equal(withFlag.code, 2, withFlag.stderr);
  assert.equal(withFlag.stderr.trim().split('\n').length, 1, withFlag.stderr);
  assert.match(withFlag.stderr, /npm install ioredis/);
  const plain = await run(['--port', '0', '--data-dir', tempDataDir()]);
  assert.equal(plain.code, 0, `starts and stops without ioredis: ${plain.stderr}`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('--redis with Redis up: the log connects (commands + pub/sub), survives Redis going away and coming back, exits 0 on SIGTERM', { skip, timeout: 30_000 }, async () => {
  const redis = await RedisServer.start();
  const admin = new Redis(redis.url);
  try {
    const s = await startServer(['--port', '0', '--data-dir', tempDataDir(), '--redis', redis.url]);
    const clients = String(await admin.client('LIST'));
    assert.match(clients, /cmd=psubscribe|psub=1/, 'the pub/sub connection is subscribed');
    assert.ok(clients.trim().split('\n').length >= 3, `the server's two connections and ours:\n${clients}`);
    admin.disconnect();

    await redis.stop('SIGKILL');
    await stderrHas(s.child, 'lost the connection to Redis', s.stderr);
    const res = await fetch(`http://127.0.0.1:${s.port}/api/registrations`);
    assert.equal(res.status, 200, 'the server keeps serving');
    await redis.restart();
    await stderrHas(s.child, 'is back', s.stderr);
    assert.equal(s.stderr().match(/lost the connection/g)!.length, 1, `one line per outage:\n${s.stderr()}`);

    s.child.kill('SIGTERM');
    const { code } = await s.exited;
    assert.equal(code, 0, s.stderr());
  } finally {
    admin.disconnect();
    await redis.stop();
  }
});
