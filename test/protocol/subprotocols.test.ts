/**
 * Sec-WebSocket-Protocol as the client sends it: a comma-separated list of
 * unique tokens (RFC 6455 §4.1, RFC 9110 §5.6.2), parsed by the pure core.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkUpgradeRequest, parseSubprotocols } from '../../src/protocol/handshake.js';

function parsed(value: string | undefined): string[] | string {
  const result = parseSubprotocols(value);
  return result.ok ? [...result.protocols] : result.message;
}

test('valid lists give the names in the client\'s order', () => {
  const vectors: Array<[string | undefined, string[]]> = [
    [undefined, []],
    ['', []],
    ['chat', ['chat']],
    ['chat, superchat', ['chat', 'superchat']],
    ['a,b', ['a', 'b']],
    [' \ta ,\tb \t', ['a', 'b']],
    // Empty list elements are skipped (RFC 9110 §5.6.1).
    ['a,,b, ,', ['a', 'b']],
    // Names are case-sensitive: these are two names.
    ['Chat, chat', ['Chat', 'chat']],
    // Every tchar.
    ["!#$%&'*+-.^_`|~09AZaz", ["!#$%&'*+-.^_`|~09AZaz"]],
    ['v1.chat.example.com, mqtt', ['v1.chat.example.com', 'mqtt']],
  ];
  for (const [value, names] of vectors) assert.deepEqual(parsed(value), names, JSON.stringify(value));
});

test('a name that is not a token is refused, naming it', () => {
  const vectors: Array<[string, string]> = [
    ['a b, c', 'a b'],
    ['chat, super chat', 'super chat'],
    ['a;b', 'a;b'],
    ['a/b', 'a/b'],
    ['"chat"', '"chat"'],
    ['(chat)', '(chat)'],
    ['chat=1', 'chat=1'],
    ['a:b', 'a:b'],
    ['a{b}', 'a{b}'],
    ['caf\u00e9', 'caf\u00e9'],
    ['a\u000bb', 'a\u000bb'],
    // Only spaces and tabs are optional whitespace.
    ['\u00a0chat', '\u00a0chat'],
  ];
  for (const [value, bad] of vectors) {
    const message = parsed(value);
    assert.equal(typeof message, 'string', JSON.stringify(value));
    assert.ok((message as string).includes(JSON.stringify(bad)), `${JSON.stringify(value)}: ${message as string}`);
    assert.match(message as string, /not a token/);
  }
});

test('a name offered twice is refused', () => {
  for (const [value, name] of [['chat, chat', 'chat'], ['a,b,a', 'a'], ['x, y ,\ty', 'y']] as const) {
    assert.equal(parsed(value), `invalid Sec-WebSocket-Protocol: ${JSON.stringify(name)} is offered twice`);
  }
});

test('checkUpgradeRequest answers 400 for a bad list and passes a good one as a Set', () => {
  const headers = {
    host: 'example.com', upgrade: 'websocket', connection: 'Upgrade',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13',
  };
  for (const value of ['a b, c', 'chat, chat', 'x;y']) {
    const check = checkUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers: { ...headers, 'sec-websocket-protocol': value } });
    assert.equal(check.ok, false, value);
    if (!check.ok) assert.equal(check.status, 400);
  }
  // Repeated header lines arrive as an array (or joined by node); they form one list.
  const check = checkUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers: { ...headers, 'sec-websocket-protocol': ['chat', 'superchat'] } });
  assert.ok(check.ok);
  if (check.ok) assert.deepEqual(check.protocols, new Set(['chat', 'superchat']));
  const twice = checkUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers: { ...headers, 'sec-websocket-protocol': ['chat', 'chat'] } });
  assert.equal(twice.ok, false);
});
