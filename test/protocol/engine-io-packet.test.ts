/**
 * The Engine.IO v4 packet codec: byte/string vectors of the protocol
 * (docs/PROTOCOL.md §5.1), the record separator of long-polling bodies,
 * base64 binary packets, and refusal of anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeBinaryPacket, decodePayload, decodeTextPacket, encodeBase64Packet, encodeOpenPacket, encodePayload,
  encodeTextPacket, engineErrorBody, EngineParseError, EnginePacketType as T, RECORD_SEPARATOR,
} from '../../src/protocol/engine-io-packet.js';

test('each packet type is its digit, then its data', () => {
  assert.equal(encodeTextPacket(T.Open, '{"sid":"x"}'), '0{"sid":"x"}');
  assert.equal(encodeTextPacket(T.Close), '1');
  assert.equal(encodeTextPacket(T.Ping), '2');
  assert.equal(encodeTextPacket(T.Ping, 'probe'), '2probe');
  assert.equal(encodeTextPacket(T.Pong, 'probe'), '3probe');
  assert.equal(encodeTextPacket(T.Message, 'hello €亜Б'), '4hello €亜Б');
  assert.equal(encodeTextPacket(T.Upgrade), '5');
  assert.equal(encodeTextPacket(T.Noop), '6');
  for (const [text, type, data] of [
    ['1', T.Close, ''], ['2', T.Ping, ''], ['2probe', T.Ping, 'probe'], ['3', T.Pong, ''], ['4', T.Message, ''],
    ['4hello', T.Message, 'hello'], ['5', T.Upgrade, ''], ['6', T.Noop, ''], ['0{}', T.Open, '{}'],
  ] as const) {
    assert.deepEqual(decodeTextPacket(text), { type, data }, text);
  }
});

test('the open packet holds the handshake the suites check, key for key', () => {
  const text = encodeOpenPacket({ sid: 'abc', upgrades: ['websocket'], pingInterval: 300, pingTimeout: 200, maxPayload: 1e6 });
  assert.equal(text, '0{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}');
});

test('binary messages: raw over WebSocket, "b" + base64 in a polling body', () => {
  const bytes = Buffer.from([1, 2, 3, 4]);
  assert.equal(encodeBase64Packet(bytes), 'bAQIDBA==');
  const decoded = decodeTextPacket('bAQIDBA==');
  assert.equal(decoded.type, T.Message);
  assert.ok(Buffer.isBuffer(decoded.data) && decoded.data.equals(bytes));
  // Padding may be left out.
  assert.ok((decodeTextPacket('bAQIDBA').data as Buffer).equals(bytes));
  assert.ok((decodeTextPacket('b').data as Buffer).equals(Buffer.alloc(0)));
  const raw = decodeBinaryPacket(bytes);
  assert.equal(raw.type, T.Message);
  assert.equal(raw.data, bytes);
});

test('a polling body joins packets with the record separator \\x1e', () => {
  assert.equal(RECORD_SEPARATOR, '\x1e');
  assert.equal(encodePayload(['4hello']), '4hello');
  assert.equal(encodePayload(['4test1', '4test2', '4test3']), '4test1\x1e4test2\x1e4test3');
  assert.equal(encodePayload(['4hello', encodeBase64Packet(Buffer.from([1, 2, 3, 4]))]), '4hello\x1ebAQIDBA==');
  const packets = decodePayload('4hello\x1ebAQIDBA==\x1e2\x1e6');
  assert.equal(packets.length, 4);
  assert.deepEqual(packets[0], { type: T.Message, data: 'hello' });
  assert.ok((packets[1]!.data as Buffer).equals(Buffer.from([1, 2, 3, 4])));
  assert.deepEqual(packets.slice(2), [{ type: T.Ping, data: '' }, { type: T.Noop, data: '' }]);
  // A message may itself be empty, and may hold any other character.
  assert.deepEqual(decodePayload('4\x1e4a,b\n'), [{ type: T.Message, data: '' }, { type: T.Message, data: 'a,b\n' }]);
});

test('anything else is refused, and one bad packet spoils the whole body', () => {
  for (const bad of ['', 'abc', '7', '9hello', ' 4', 'x', 'b!!!!', 'bAQIDBA===', 'bA']) {
    assert.throws(() => decodeTextPacket(bad), EngineParseError, JSON.stringify(bad));
  }
  for (const bad of ['abc', '4hello\x1eabc', '4a\x1e\x1e4b', '\x1e', '4a\x1e']) {
    assert.throws(() => decodePayload(bad), EngineParseError, JSON.stringify(bad));
  }
});

test('error answers are {"code","message"} with Engine.IO\'s messages', () => {
  assert.equal(engineErrorBody(0), '{"code":0,"message":"Transport unknown"}');
  assert.equal(engineErrorBody(1), '{"code":1,"message":"Session ID unknown"}');
  assert.equal(engineErrorBody(2), '{"code":2,"message":"Bad handshake method"}');
  assert.equal(engineErrorBody(3), '{"code":3,"message":"Bad request"}');
  assert.equal(engineErrorBody(5), '{"code":5,"message":"Unsupported protocol version"}');
});
