import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_ALLOWED_ORIGINS, originChecked, originRefusal, parseAllowedOrigins } from '../../src/http/origin.js';

const defaults = parseAllowedOrigins(DEFAULT_ALLOWED_ORIGINS);
const allowed = (policy: ReturnType<typeof parseAllowedOrigins>, origin: string | undefined, host: string | undefined) =>
  originRefusal(policy, origin, host) === null;

test('no Origin header (not a browser) always passes', () => {
  assert.ok(allowed(defaults, undefined, 'example.com'));
  assert.ok(allowed(parseAllowedOrigins(''), undefined, undefined));
});

test("the server's own origin is the Host header's, with http or https, the default port implied", () => {
  const vectors: [origin: string, host: string, expected: boolean][] = [
    ['http://example.com', 'example.com', true],
    ['https://example.com', 'example.com', true], // behind a TLS-terminating proxy
    ['http://example.com:80', 'example.com', true],
    ['https://example.com:443', 'example.com', true],
    ['http://example.com', 'example.com:80', true],
    ['https://example.com', 'example.com:443', true],
    ['https://example.com', 'example.com:80', false], // https on 80 is another origin
    ['http://example.com:8080', 'example.com', false],
    ['http://example.com', 'example.com:8080', false],
    ['http://push.example:3000', 'push.example:3000', true],
    ['HTTP://PUSH.Example:3000', 'push.EXAMPLE:3000', true], // case-insensitive scheme and host
    ['http://evil.example', 'example.com', false],
    ['http://example.com.evil.example', 'example.com', false],
    ['http://[::1]:3000', '[::1]:3000', true],
    ['http://[::1]:3000', '[::1]:3001', false],
    ['ws://example.com', 'example.com', false], // browsers never send it; not our own page
    ['http://example.com', 'example.com, evil.example', false], // a malformed Host matches nothing
  ];
  const none = parseAllowedOrigins('');
  for (const [origin, host, expected] of vectors) assert.equal(allowed(none, origin, host), expected, `${origin} with Host ${host}`);
  assert.ok(!allowed(none, 'http://example.com', undefined), 'no Host: no own origin');
});

test('the default list: http://localhost and http://127.0.0.1 on any port, nothing else', () => {
  const vectors: [string, boolean][] = [
    ['http://localhost', true],
    ['http://localhost:5173', true],
    ['http://127.0.0.1:1', true],
    ['http://127.0.0.1:65535', true],
    ['https://localhost:5173', false],
    ['http://localhost.evil.example', false],
    ['http://127.0.0.2:3000', false],
    ['http://[::1]:3000', false],
    ['http://evil.example', false],
  ];
  for (const [origin, expected] of vectors) assert.equal(allowed(defaults, origin, 'push.example'), expected, origin);
});

test('a configured list: exact origins, ports, wildcard ports, and the scheme matters', () => {
  const policy = parseAllowedOrigins(' https://app.example , http://dev.example:8080,https://any.example:*,chrome-extension://abcdef ');
  const vectors: [string, boolean][] = [
    ['https://app.example', true],
    ['https://app.example:443', true],
    ['https://APP.example', true],
    ['http://app.example', false],
    ['https://app.example:8443', false],
    ['https://sub.app.example', false],
    ['http://dev.example:8080', true],
    ['http://dev.example', false],
    ['https://any.example:1234', true],
    ['https://any.example', true],
    ['chrome-extension://abcdef', true],
    ['chrome-extension://other', false],
    ['http://localhost:3000', false], // a list replaces the defaults
  ];
  for (const [origin, expected] of vectors) assert.equal(allowed(policy, origin, 'push.example'), expected, origin);
  assert.ok(allowed(policy, 'http://push.example', 'push.example'), 'the own origin stays allowed');
});

test('"*" allows every origin, even "null" and malformed ones', () => {
  for (const spec of ['*', 'https://a.example,*']) {
    const any = parseAllowedOrigins(spec);
    assert.equal(any, '*');
    for (const origin of ['http://evil.example', 'null', 'garbage', '']) assert.ok(allowed(any, origin, 'x'), origin);
  }
});

test('the opaque origin "null" (sandboxed frames, file: pages) is refused unless listed', () => {
  assert.match(originRefusal(defaults, 'null', 'x')!, /null/);
  assert.ok(allowed(parseAllowedOrigins('null'), 'null', 'x'));
});

test('malformed Origin headers are refused', () => {
  for (const origin of ['', ' ', 'example.com', 'http://', 'http://example.com/', 'http://example.com/path', 'http://example.com?q',
    'http://user@example.com', 'http://example.com:99999', 'http://example.com:abc', 'http://example.com:*', 'http://a b',
    'http://example.com, http://evil.example', '//example.com', 'http:example.com', 'http://[::1', 'http://exa\\mple.com']) {
    const refusal = originRefusal(defaults, origin, 'example.com');
    assert.ok(refusal !== null, JSON.stringify(origin));
  }
  assert.equal(originRefusal(defaults, 'http://example.com/', 'example.com'), 'malformed Origin header');
});

test('allow lists that are not origins are refused with the entry named', () => {
  for (const spec of ['example.com', 'http://example.com/', 'http://example.com/path', 'http://*.example.com', 'http://x:99999', 'http://x:']) {
    assert.throws(() => parseAllowedOrigins(spec), (err: Error) => err instanceof TypeError && err.message.includes(JSON.stringify(spec.trim())), spec);
  }
  assert.deepEqual(parseAllowedOrigins(' , '), { rules: [], allowNull: false });
});

test('which requests are checked: upgrades, push paths, and every method but GET, HEAD and OPTIONS', () => {
  const vectors: [method: string, path: string, upgrade: boolean, checked: boolean][] = [
    ['GET', '/echo', true, true],
    ['GET', '/anything/new', true, true],
    ['GET', '/push/sse', false, true],
    ['GET', '/push/poll', false, true],
    ['HEAD', '/push/iframe', false, true],
    ['OPTIONS', '/push/emit', false, true],
    ['POST', '/push/emit', false, true],
    ['POST', '/api/registrations', false, true],
    ['PUT', '/', false, true],
    ['DELETE', '/api/registrations', false, true],
    ['get', '/', false, true], // methods are case-sensitive: not GET
    ['GET', '/socket.io/', false, true],
    ['GET', '/', false, false],
    ['GET', '/push.js', false, false],
    ['GET', '/api/registrations', false, false],
    ['GET', '/metrics', false, false],
    ['HEAD', '/', false, false],
    ['OPTIONS', '/api/registrations', false, false],
  ];
  for (const [method, path, upgrade, checked] of vectors) assert.equal(originChecked(method, path, upgrade), checked, `${method} ${path} ${upgrade}`);
});
