/**
 * The Socket.IO v5 packet codec: the string vectors of the protocol
 * (docs/PROTOCOL.md §5.3), namespaces, ack ids, binary attachments with
 * placeholders, fed whole and attachment by attachment, and refusals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodePacketText, encodePacket, hasBinary, SocketPacketDecoder, SocketParseError, SocketPacketType as T,
  type SocketPacket,
} from '../../src/protocol/socket-io-packet.js';

const vectors: Array<[SocketPacket, string]> = [
  [{ type: T.Connect, nsp: '/' }, '0'],
  [{ type: T.Connect, nsp: '/', data: { token: '123' } }, '0{"token":"123"}'],
  [{ type: T.Connect, nsp: '/admin', data: { sid: 'oSO0OpakMV_3jnilAAAA' } }, '0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'],
  [{ type: T.Disconnect, nsp: '/' }, '1'],
  [{ type: T.Disconnect, nsp: '/admin' }, '1/admin,'],
  [{ type: T.Event, nsp: '/', data: ['foo'] }, '2["foo"]'],
  [{ type: T.Event, nsp: '/', data: ['message', 1, '2', { 3: [true] }] }, '2["message",1,"2",{"3":[true]}]'],
  [{ type: T.Event, nsp: '/admin', data: ['bar'] }, '2/admin,["bar"]'],
  [{ type: T.Event, nsp: '/', id: 12, data: ['foo'] }, '212["foo"]'],
  [{ type: T.Ack, nsp: '/admin', id: 13, data: ['bar'] }, '3/admin,13["bar"]'],
  [{ type: T.ConnectError, nsp: '/random', data: { message: 'Invalid namespace' } }, '4/random,{"message":"Invalid namespace"}'],
];

test('text packets encode to the protocol\'s strings and decode back', () => {
  for (const [packet, text] of vectors) {
    const encoded = encodePacket(packet);
    assert.equal(encoded.text, text);
    assert.equal(encoded.attachments.length, 0);
    if (packet.type === T.ConnectError) continue; // servers send it, never receive it
    const expected = packet.type === T.Disconnect && packet.nsp !== '/' ? { ...packet } : packet;
    assert.deepEqual(new SocketPacketDecoder().add(text), expected, text);
  }
  // A namespace with no comma runs to the end of the packet.
  assert.deepEqual(decodePacketText('0/custom').packet, { type: T.Connect, nsp: '/custom' });
  assert.deepEqual(decodePacketText('1/custom').packet, { type: T.Disconnect, nsp: '/custom' });
});

test('binary events: placeholders in the text, attachments after it, in order', () => {
  const one = Buffer.from([1, 2, 3]);
  const two = Uint8Array.from([4, 5, 6]);
  const encoded = encodePacket({ type: T.Event, nsp: '/', data: ['message', 1, one, { nested: [two] }] });
  assert.equal(encoded.text, '52-["message",1,{"_placeholder":true,"num":0},{"nested":[{"_placeholder":true,"num":1}]}]');
  assert.deepEqual(encoded.attachments.map((b) => [...b]), [[1, 2, 3], [4, 5, 6]]);
  const ack = encodePacket({ type: T.Ack, nsp: '/admin', id: 789, data: [one] });
  assert.equal(ack.text, '61-/admin,789[{"_placeholder":true,"num":0}]');

  const decoder = new SocketPacketDecoder();
  assert.equal(decoder.add('452-789["message-with-ack",1,{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'.slice(1)), null);
  assert.equal(decoder.pending, true);
  assert.equal(decoder.add(Buffer.from([1, 2, 3])), null);
  const packet = decoder.add(Buffer.from([4, 5, 6]))!;
  assert.equal(decoder.pending, false);
  assert.equal(packet.type, T.Event);
  assert.equal(packet.id, 789);
  const data = packet.data as unknown[];
  assert.equal(data[0], 'message-with-ack');
  assert.deepEqual([...(data[2] as Buffer)], [1, 2, 3]);
  assert.deepEqual([...(data[3] as Buffer)], [4, 5, 6]);
  // The decoder is ready for the next packet.
  assert.deepEqual(decoder.add('2["next"]'), { type: T.Event, nsp: '/', data: ['next'] });
});

test('hasBinary sees buffers at any depth and through toJSON, and not in plain data', () => {
  assert.equal(hasBinary(['a', { b: [1, { c: new ArrayBuffer(2) }] }]), true);
  assert.equal(hasBinary([new Uint16Array(1)]), true);
  assert.equal(hasBinary({ toJSON: () => ({ x: Buffer.alloc(1) }) }), true);
  assert.equal(hasBinary(['a', 1, null, { b: [true] }, new Date()]), false);
});

test('malformed packets are refused with a SocketParseError', () => {
  const bad = [
    '', 'abc', '7', '9["x"]',                       // unknown type
    '2{}', '2[]', '2"x"', '2[1', '2[null]',          // EVENT data not an array with a name
    '2["connect"]', '2["disconnect",1]',            // reserved names
    '2abc["message-with-ack",1,"2",{"3":[false]}]', // an ack id that is no number
    '1{}', '0[]', '0"x"',                           // DISCONNECT with data, CONNECT with non-object data
    '3["x"]', '3{}',                                // ACK without id, ACK data not an array
    '5-["x",{"_placeholder":true,"num":0}]',        // no attachment count
    '50-["x"]', '5x-["x"]', '511-["x"]',             // zero, not a number, over the bound of 10
    '299999999999999999999["x"]',                    // ack id beyond 2^53
  ];
  for (const text of bad) {
    assert.throws(() => new SocketPacketDecoder().add(text), SocketParseError, JSON.stringify(text));
  }
});

test('attachments out of turn, or placeholders that name none, are refused', () => {
  assert.throws(() => new SocketPacketDecoder().add(Buffer.from([1])), SocketParseError);
  const textWhileWaiting = new SocketPacketDecoder();
  textWhileWaiting.add('51-["x",{"_placeholder":true,"num":0}]');
  assert.throws(() => textWhileWaiting.add('2["y"]'), SocketParseError);
  for (const placeholder of ['{"_placeholder":true,"num":1}', '{"_placeholder":true,"num":-1}', '{"_placeholder":true,"num":"0"}', '{"_placeholder":true}']) {
    const decoder = new SocketPacketDecoder();
    decoder.add(`51-["x",${placeholder}]`);
    assert.throws(() => decoder.add(Buffer.from([1])), SocketParseError, placeholder);
  }
});

test('absurdly nested data is refused, not a crash', () => {
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  const decoder = new SocketPacketDecoder();
  decoder.add(`51-["x",${deep}]`);
  assert.throws(() => decoder.add(Buffer.from([1])), SocketParseError);
});
