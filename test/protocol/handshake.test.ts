/** The opening handshake checks of the pure core (RFC 6455 §4.2.1, §4.2.2). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptKey, checkAcceptHeader, checkUpgradeRequest, tokenList, upgradeResponse, type UpgradeRequestLike } from '../../src/protocol/handshake.js';

const SAMPLE = 'dGhlIHNhbXBsZSBub25jZQ==';

function req(headers: Record<string, string | undefined>, method = 'GET', httpVersion = '1.1'): UpgradeRequestLike {
  const base: Record<string, string | undefined> = {
    host: 'example.com', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': SAMPLE, 'sec-websocket-version': '13',
  };
  return { method, httpVersion, headers: { ...base, ...headers } };
}

function status(r: UpgradeRequestLike): number | 'ok' {
  const c = checkUpgradeRequest(r);
  return c.ok ? 'ok' : c.status;
}

test('RFC 6455 §1.3 sample key gives the sample accept value', () => {
  assert.equal(acceptKey(SAMPLE), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.equal(checkAcceptHeader(SAMPLE, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='), true);
  assert.equal(checkAcceptHeader(SAMPLE, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo'), false);
  assert.equal(checkAcceptHeader(SAMPLE, undefined), false);
});

test('a valid request passes and reports key, protocols and extensions', () => {
  const c = checkUpgradeRequest(req({ 'sec-websocket-protocol': 'chat, superchat', 'sec-websocket-extensions': 'permessage-deflate' }));
  assert.equal(c.ok, true);
  if (c.ok) {
    assert.equal(c.key, SAMPLE);
    assert.deepEqual(c.protocols, new Set(['chat', 'superchat']));
    assert.equal(c.extensions, 'permessage-deflate');
  }
});

test('Connection is a token list in any case; Upgrade is case-insensitive', () => {
  for (const connection of ['keep-alive, UPGRADE', 'upgrade', 'Upgrade, keep-alive', ' a ,b, Upgrade ']) {
    assert.equal(status(req({ connection })), 'ok', connection);
  }
  assert.equal(status(req({ upgrade: 'WebSocket' })), 'ok');
  assert.equal(status(req({ connection: ['keep-alive', 'Upgrade'] as unknown as string })), 'ok');
  assert.equal(status(req({ connection: 'keep-alive, upgraded' })), 400);
});

test('a version other than 13 is refused with 426 naming version 13', () => {
  for (const v of ['8', '12', '14', '13, 8']) {
    const r = checkUpgradeRequest(req({ 'sec-websocket-version': v }));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.status, 426, v);
      assert.equal(r.headers?.['Sec-WebSocket-Version'], '13');
    }
  }
});

test('bad requests get their statuses', () => {
  assert.equal(status(req({}, 'POST')), 405);
  assert.equal(status(req({}, 'PUT')), 405);
  assert.equal(status(req({}, 'GET', '1.0')), 400);
  assert.equal(status(req({ upgrade: undefined })), 426);
  assert.equal(status(req({ upgrade: 'h2c' })), 426);
  assert.equal(status(req({ connection: undefined })), 400);
  assert.equal(status(req({ connection: 'keep-alive' })), 400);
  assert.equal(status(req({ 'sec-websocket-key': undefined })), 400);
  assert.equal(status(req({ 'sec-websocket-version': undefined })), 400);
  assert.equal(status(req({ host: undefined })), 400);
  assert.equal(status(req({ host: ' ' })), 400);
  for (const key of ['', 'abc', 'dGhlIHNhbXBsZSBub25jZQ', 'dGhlIHNhbXBsZSBub25jZQ=', Buffer.alloc(15).toString('base64'),
    Buffer.alloc(17).toString('base64'), 'dGhlIHNhbXBsZSBub25jZ!==', 'dGhlIHNhbXBsZSBub25jZQ==x']) {
    assert.equal(status(req({ 'sec-websocket-key': key })), 400, JSON.stringify(key));
  }
  // Any 16 bytes are a valid key, whatever their value.
  assert.equal(status(req({ 'sec-websocket-key': Buffer.alloc(16, 0xff).toString('base64') })), 'ok');
  assert.equal(status(req({ 'sec-websocket-key': ` ${SAMPLE} ` })), 'ok');
});

test('tokenList splits, trims and lower-cases', () => {
  assert.deepEqual(tokenList(' Keep-Alive ,, UPGRADE '), ['keep-alive', 'upgrade']);
  assert.deepEqual(tokenList(undefined), []);
});

test('upgradeResponse is a complete 101 head with the accept value', () => {
  const head = upgradeResponse(SAMPLE, 'chat', 'permessage-deflate');
  assert.equal(head, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n' +
    'Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n');
  assert.ok(!upgradeResponse(SAMPLE).includes('Sec-WebSocket-Protocol'));
});
