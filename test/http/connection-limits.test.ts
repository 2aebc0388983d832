import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressKey, ConnectionLimits } from '../../src/http/connection-limits.js';

test('address keys: IPv4 as is (also IPv4-mapped), IPv6 by its /64', () => {
  const vectors: [string | undefined, string][] = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff::', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['::1', '::1'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    [undefined, 'unknown'],
  ];
  for (const [address, key] of vectors) assert.equal(addressKey(address), key, String(address));
  // Two addresses of one /64 share a key; the next /64 does not.
  assert.equal(addressKey('2001:db8:a:b::1'), addressKey('2001:db8:a:b:ffff:ffff:ffff:ffff'));
  assert.notEqual(addressKey('2001:db8:a:b::1'), addressKey('2001:db8:a:c::1'));
});

test('the overall limit: admitted up to it, refused past it, admitted again after a release', () => {
  const limits = new ConnectionLimits({ maxConnections: 3, maxConnectionsPerIp: 0 });
  for (const key of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) assert.equal(limits.admit(key), null);
  assert.equal(limits.open, 3);
  assert.equal(limits.admit('10.0.0.4'), 'max_connections');
  assert.equal(limits.open, 3, 'a refusal counts nothing');
  limits.release('10.0.0.2');
  assert.equal(limits.admit('10.0.0.4'), null);
  assert.equal(limits.open, 3);
});

test('the per-address limit counts each address apart; loopback 127.0.0.1 and ::1 (a local proxy) are exempt', () => {
  const limits = new ConnectionLimits({ maxConnections: 0, maxConnectionsPerIp: 2 });
  assert.equal(limits.admit('10.0.0.1'), null);
  assert.equal(limits.admit('10.0.0.1'), null);
  assert.equal(limits.admit('10.0.0.1'), 'max_connections_per_ip');
  assert.equal(limits.admit('10.0.0.2'), null);
  assert.equal(limits.countFor('10.0.0.1'), 2);
  for (let i = 0; i < 10; i++) {
    assert.equal(limits.admit('127.0.0.1'), null);
    assert.equal(limits.admit('::1'), null);
  }
  assert.equal(limits.admit('127.0.0.2'), null);
  assert.equal(limits.admit('127.0.0.2'), null);
  assert.equal(limits.admit('127.0.0.2'), 'max_connections_per_ip', 'other loopback addresses are limited');
  limits.release('10.0.0.1');
  assert.equal(limits.countFor('10.0.0.1'), 1);
  assert.equal(limits.admit('10.0.0.1'), null);
  limits.release('10.0.0.1');
  limits.release('10.0.0.1');
  assert.equal(limits.countFor('10.0.0.1'), 0);
  limits.release('10.0.0.1'); // a release with nothing counted changes nothing
  assert.equal(limits.open, 1 + 20 + 2);
});

test('the overall limit is checked before the per-address one; 0 means no limit', () => {
  const limits = new ConnectionLimits({ maxConnections: 1, maxConnectionsPerIp: 1 });
  assert.equal(limits.admit('10.0.0.1'), null);
  assert.equal(limits.admit('10.0.0.1'), 'max_connections');
  const none = new ConnectionLimits({ maxConnections: 0, maxConnectionsPerIp: 0 });
  for (let i = 0; i < 10_000; i++) assert.equal(none.admit('10.0.0.1'), null);
  assert.equal(none.open, 10_000);
});
