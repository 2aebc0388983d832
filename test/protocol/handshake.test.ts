import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptKey, checkUpgradeRequest } from '../../src/protocol/handshake.js';

test('RFC 6455 §1.3 sample key gives the sample accept value', () => {
  assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('a version other than 13 is refused with 426 naming version 13', () => {
  const r = checkUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers: { upgrade: 'websocket', connection: 'keep-alive, Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '8' } });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.status, 426);
    assert.equal(r.headers?.['Sec-WebSocket-Version'], '13');
  }
});
