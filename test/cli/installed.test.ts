import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SERVER, startServer, tempDataDir } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; bin: Record<string, string> };

// `#!/usr/bin/env node` finds the Node that runs these tests.
const PATH = dirname(process.execPath) + delimiter + process.env.PATH;

/** npm as `npm test` runs it (npm_execpath), else from PATH; without the npm_* settings of the outer run. */
async function npm(args: string[], cwd: string): Promise<string> {
  const env: NodeJS.ProcessEnv = { PATH };
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key) && key !== 'PATH') env[key] = value;
  const [command, prefix] = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  const { stdout } = await promisify(execFile)(command, [...prefix, ...args], { cwd, env, timeout: 60_000 });
  return stdout;
}

async function expectServing(base: string): Promise<void> {
  const res = await fetch(`${base}/api/registrations`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { count: 0, capacity: 100, last: 0 });
  const client = await fetch(`${base}/push.js`);
  assert.equal(client.status, 200, 'the browser client ships in the package');
  assert.match(await client.text(), /subscribe/);
}

test('package.json bin runs dist/server.js, which starts by itself through its #! line', async () => {
  assert.deepEqual(pkg.bin, { pushwire: 'dist/server.js' });
  assert.equal(resolve(ROOT, pkg.bin.pushwire), SERVER);
  assert.ok(readFileSync(SERVER, 'utf8').startsWith('#!/usr/bin/env node\n'));
  accessSync(SERVER, constants.X_OK); // the build makes it executable
  const s = await startServer(['--port', '0', '--data-dir', tempDataDir()], { PATH }, SERVER);
  try {
    await expectServing(`http://127.0.0.1:${s.port}`);
  } finally {
    s.child.kill('SIGTERM');
  }
  assert.equal((await s.exited).code, 0);
});

test('installed from the packed tarball, `pushwire --port 0` serves as `node dist/server.js` does', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushwire-pack-'));
  try {
    // --ignore-scripts: no `prepare` rebuilding dist/ under the tests that run beside this one,
    // and none in the install either, as from the registry.
    await npm(['pack', '--ignore-scripts', '--pack-destination', dir], ROOT);
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made a tarball');
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'uses-pushwire', private: true }));
    // No dependencies to fetch: the install needs no registry.
    await npm(['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', join(dir, tarball)], app);
    const bin = join(app, 'node_modules', '.bin', 'pushwire');
    const s = await startServer(['--port', '0', '--data-dir', join(dir, 'data')], { PATH }, bin);
    try {
      assert.match(s.stdout(), /^listening on http:\/\/127\.0\.0\.1:\d+\n$/);
      await expectServing(`http://127.0.0.1:${s.port}`);
    } finally {
      s.child.kill('SIGTERM');
    }
    assert.equal((await s.exited).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
