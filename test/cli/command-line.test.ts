import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigError, DEFAULTS } from '../../src/config.js';
import { runToExit, startServer, tempDataDir } from './helpers.js';

test('defaults are those of docs/PROTOCOL.md §7', () => {
  assert.deepEqual(parseConfig([], {}), { port: 3000, host: '127.0.0.1', capacity: 100, dataDir: './data', maxMessage: 16 * 1024 * 1024 });
  assert.deepEqual(parseConfig([], {}), DEFAULTS);
});

test('--flag value, --flag=value and the environment; flags win', () => {
  const env = { PORT: '4000', HOST: '0.0.0.0', CAPACITY: '7', DATA_DIR: '/tmp/x', MAX_MESSAGE: '1024' };
  assert.deepEqual(parseConfig([], env), { port: 4000, host: '0.0.0.0', capacity: 7, dataDir: '/tmp/x', maxMessage: 1024 });
  assert.deepEqual(parseConfig(['--port', '0', '--capacity=3', '--data-dir', 'd', '--max-message=9', '--host=::1'], env),
    { port: 0, host: '::1', capacity: 3, dataDir: 'd', maxMessage: 9 });
});

test('bad values name the flag or variable', () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--port', '65536'], {}, /--port/],
    [['--port=-1'], {}, /--port/],
    [['--port', '3.5'], {}, /--port/],
    [['--port', 'abc'], {}, /--port/],
    [['--capacity', '0'], {}, /--capacity/],
    [['--max-message', '0'], {}, /--max-message/],
    [['--bogus'], {}, /--bogus/],
    [['--port'], {}, /--port/],
    [['--host', '--port', '0'], {}, /--host needs a value/],
    [['--data-dir', '--port', '3000'], {}, /--data-dir needs a value/],
    [['stray'], {}, /stray/],
    [[], { PORT: 'x' }, /PORT/],
    [[], { CAPACITY: '-2' }, /CAPACITY/],
  ];
  for (const [argv, env, pattern] of cases) {
    assert.throws(() => parseConfig(argv, env), (err: unknown) => err instanceof ConfigError && pattern.test(err.message), argv.join(' ') + JSON.stringify(env));
  }
});

test('the server exits 2 with a one-line error for a bad flag or variable', async () => {
  for (const [args, env, name] of [[['--port', '70000'], {}, '--port'], [['--capacity=0'], {}, '--capacity'], [['--nope'], {}, '--nope'], [[], { PORT: 'abc' }, 'PORT']] as const) {
    const { code, stderr, stdout } = await runToExit([...args], { ...env });
    assert.equal(code, 2, `${args} exit code`);
    assert.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);
    assert.ok(stderr.includes(name), `names ${name}: ${stderr}`);
    assert.equal(stdout, '');
  }
});

test('--help prints the usage and exits 0', async () => {
  const { code, stdout } = await runToExit(['--help']);
  assert.equal(code, 0);
  for (const flag of ['--port', '--host', '--capacity', '--data-dir', '--max-message']) assert.ok(stdout.includes(flag), flag);
});

test('--port 0 prints the real port, and SIGTERM exits 0 promptly', async () => {
  const s = await startServer(['--port', '0', '--data-dir', tempDataDir()]);
  assert.notEqual(s.port, 0);
  assert.match(s.stdout(), /^listening on http:\/\/127\.0\.0\.1:\d+\n$/);
  const res = await fetch(`http://127.0.0.1:${s.port}/`);
  assert.equal(res.status, 200);
  const t0 = Date.now();
  s.child.kill('SIGTERM');
  const { code } = await s.exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - t0 < 5000, 'exits within 5 s');
});

test('PORT from the environment is used when no flag is given', async () => {
  const s = await startServer(['--data-dir', tempDataDir()], { PORT: '0' });
  assert.notEqual(s.port, 0);
  s.child.kill('SIGINT');
  assert.equal((await s.exited).code, 0);
});

test('SIGTERM closes an open WebSocket with 1001, then new connections are refused', async () => {
  const { connect } = await import('../../src/websocket/client.js');
  const s = await startServer(['--port', '0', '--data-dir', tempDataDir()]);
  const ws = connect(`ws://127.0.0.1:${s.port}/echo`);
  await new Promise<void>((res, rej) => { ws.once('open', res); ws.once('close', () => rej(new Error('closed before open'))); });
  const closed = new Promise<number>((res) => ws.once('close', (code: number) => res(code)));
  s.child.kill('SIGTERM');
  assert.equal(await closed, 1001);
  assert.equal((await s.exited).code, 0);
  await assert.rejects(fetch(`http://127.0.0.1:${s.port}/`));
});
