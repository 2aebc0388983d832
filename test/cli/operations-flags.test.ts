import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, HELP, parseConfig } from '../../src/config.js';
import { runToExit } from './helpers.js';

test('the operations flags and their variables: origins, connection limits, timeouts; flags win', () => {
  const env = { ALLOW_ORIGIN: 'https://a.example', MAX_CONNECTIONS: '500', MAX_CONNECTIONS_PER_IP: '20', HEADERS_TIMEOUT: '10000', IDLE_TIMEOUT: '0' };
  const fromEnv = parseConfig([], env);
  assert.ok(fromEnv !== 'help');
  assert.deepEqual(
    [fromEnv.allowOrigin, fromEnv.maxConnections, fromEnv.maxConnectionsPerIp, fromEnv.headersTimeout, fromEnv.idleTimeout],
    [['https://a.example'], 500, 20, 10_000, 0],
  );
  const fromFlags = parseConfig(['--allow-origin', 'https://b.example, http://localhost:*', '--max-connections=0',
    '--max-connections-per-ip', '3', '--headers-timeout=250', '--idle-timeout', '5000'], env);
  assert.ok(fromFlags !== 'help');
  assert.deepEqual(
    [fromFlags.allowOrigin, fromFlags.maxConnections, fromFlags.maxConnectionsPerIp, fromFlags.headersTimeout, fromFlags.idleTimeout],
    [['https://b.example', 'http://localhost:*'], 0, 3, 250, 5000],
  );
  const star = parseConfig(['--allow-origin=*'], {});
  assert.ok(star !== 'help');
  assert.deepEqual(star.allowOrigin, ['*']);
});

test('bad operations values name the flag or variable', () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--allow-origin', 'example.com'], {}, /--allow-origin: not an origin: "example.com"/],
    [['--allow-origin', 'https://a.example/path'], {}, /--allow-origin/],
    [[], { ALLOW_ORIGIN: 'ftp:/x' }, /ALLOW_ORIGIN/],
    [['--max-connections', '-1'], {}, /--max-connections/],
    [['--max-connections-per-ip', 'many'], {}, /--max-connections-per-ip/],
    [['--headers-timeout', '0'], {}, /--headers-timeout/],
    [['--idle-timeout', '1.5'], {}, /--idle-timeout/],
  ];
  for (const [argv, env, pattern] of cases) {
    assert.throws(() => parseConfig(argv, env), (err: unknown) => err instanceof ConfigError && pattern.test(err.message), argv.join(' ') + JSON.stringify(env));
  }
});

test('--help lists every operations flag with its default', () => {
  for (const text of ['--allow-origin', '--max-connections ', '--max-connections-per-ip', '--headers-timeout', '--idle-timeout',
    'default 1000', 'default 30000', 'default 75000', 'http://localhost:*,http://127.0.0.1:*']) {
    assert.ok(HELP.includes(text), text);
  }
});

test('the server exits 2 naming a bad --allow-origin', async () => {
  const { code, stderr } = await runToExit(['--allow-origin', 'not an origin']);
  assert.equal(code, 2);
  assert.match(stderr, /^pushwire: --allow-origin: not an origin/);
  assert.equal(stderr.trim().split('\n').length, 1);
});
