/**
 * The browser client's packet handling (src/client/socket.io/wire.ts) on the
 * vectors of docs/PROTOCOL.md §5: what it sends through the server's codecs,
 * how it batches a POST, and what it makes of what it receives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, ownBuffer, pollingText, socketMessages, takeBatch, type EngineData } from '../../src/client/socket.io/wire.js';
import { decodePayload, EnginePacketType as E } from '../../src/protocol/engine-io-packet.js';
import { SocketPacketDecoder, SocketPacketType as T } from '../../src/protocol/socket-io-packet.js';

const bytes = (data: EngineData): number[] => (typeof data === 'string' ? [] : [...data]);

test('packets out: the text of §5.3, binary values as attachments after it', () => {
  assert.deepEqual(socketMessages({ type: T.Connect, nsp: '/' , data: {} }), ['0{}']);
  assert.deepEqual(socketMessages({ type: T.Connect, nsp: '/admin', data: { token: 'abc' } }), ['0/admin,{"token":"abc"}']);
  // Coming back for recovery (§5.5): the auth, then pid and offset.
  assert.deepEqual(socketMessages({ type: T.Connect, nsp: '/', data: { token: 'abc', pid: 'p1', offset: 'chat@2,socket.io@0' } }), ['0{"token":"abc","pid":"p1","offset":"chat@2,socket.io@0"}']);
  assert.deepEqual(socketMessages({ type: T.Event, nsp: '/', data: ['chat message', 'hi'] }), ['2["chat message","hi"]']);
  assert.deepEqual(socketMessages({ type: T.Event, nsp: '/admin', id: 12, data: ['echo', 1] }), ['2/admin,12["echo",1]']);
  assert.deepEqual(socketMessages({ type: T.Ack, nsp: '/admin', id: 12, data: [1] }), ['3/admin,12[1]']);
  assert.deepEqual(socketMessages({ type: T.Disconnect, nsp: '/admin' }), ['1/admin,']);

  const whole = new Uint8Array([9, 1, 2, 3, 9]);
  const out = socketMessages({ type: T.Event, nsp: '/', id: 0, data: ['file', whole.subarray(1, 4), { raw: new Uint8Array([255]).buffer }] });
  assert.equal(out[0], '52-0["file",{"_placeholder":true,"num":0},{"raw":{"_placeholder":true,"num":1}}]');
  assert.deepEqual(out.slice(1).map(bytes), [[1, 2, 3], [255]]);
  const ack = socketMessages({ type: T.Ack, nsp: '/', id: 3, data: [new Uint8Array([7])] });
  assert.deepEqual([ack[0], bytes(ack[1]!)], ['61-3[{"_placeholder":true,"num":0}]', [7]]);
});

test('a POST body: packets joined by \\x1e, binary as "b" + base64, cut before maxPayload', () => {
  assert.equal(pollingText('42["a"]'), '42["a"]');
  assert.equal(pollingText(new Uint8Array([1, 2, 3, 4])), 'bAQIDBA==');
  const queue: EngineData[] = ['451-["f",{"_placeholder":true,"num":0}]', new Uint8Array([1, 2, 3, 4]), '3'];
  assert.equal(takeBatch(queue, 1e6), '451-["f",{"_placeholder":true,"num":0}]\x1ebAQIDBA==\x1e3');
  assert.deepEqual(queue, []);
  // 7 + 1 and 7 + 1 fit in 16, a third does not: it waits for the next POST.
  const long: EngineData[] = ['42["a"]', '42["b"]', '42["c"]'];
  assert.equal(takeBatch(long, 16), '42["a"]\x1e42["b"]');
  assert.deepEqual(long, ['42["c"]']);
  // One packet over maxPayload still goes, alone: the server decides.
  const big: EngineData[] = ['4' + 'x'.repeat(50), '42["d"]'];
  assert.equal(takeBatch(big, 16), '4' + 'x'.repeat(50));
  assert.deepEqual(big, ['42["d"]']);
});

test('packets in: a polling body of §5.6 and a binary event with its attachment in base64', () => {
  const body = '42["chat message","hello","chat@1,socket.io@0"]\x1e431[{"ok":true}]\x1e2\x1e451-["file",{"_placeholder":true,"num":0}]\x1ebAQID';
  const engine = decodePayload(body);
  assert.deepEqual(engine.map((p) => p.type), [E.Message, E.Message, E.Ping, E.Message, E.Message]);
  const decoder = new SocketPacketDecoder<ArrayBuffer>();
  const packets = engine.filter((p) => p.type === E.Message).map((p) => decoder.add(typeof p.data === 'string' ? p.data : ownBuffer(p.data)));
  assert.deepEqual(packets.slice(0, 3), [
    { type: T.Event, nsp: '/', data: ['chat message', 'hello', 'chat@1,socket.io@0'] },
    { type: T.Ack, nsp: '/', id: 1, data: [{ ok: true }] },
    null,
  ]);
  const file = packets[3]!;
  assert.equal(file.type, T.Event);
  const [name, attachment] = file.data as [string, ArrayBuffer];
  assert.equal(name, 'file');
  assert.ok(attachment instanceof ArrayBuffer, 'handed out as an ArrayBuffer, as socket.io-client does');
  assert.deepEqual([...new Uint8Array(attachment)], [1, 2, 3]);
});

test('what the server may not send is refused, as socket.io-client refuses it', () => {
  for (const text of ['2["connect"]', '2{}', '3["x"]', '4[]', '511-["x"]', '2["a"']) {
    assert.throws(() => new SocketPacketDecoder<ArrayBuffer>().add(text), JSON.stringify(text));
  }
  assert.throws(() => new SocketPacketDecoder<ArrayBuffer>().add(new ArrayBuffer(1)), 'binary nobody announced');
  assert.throws(() => decodePayload('42["a"]\x1e9'), 'one bad packet spoils the body');
});

test('ownBuffer: the ArrayBuffer itself when the bytes fill it, else a copy of just them', () => {
  const whole = new Uint8Array([1, 2, 3]);
  assert.equal(ownBuffer(whole), whole.buffer);
  const part = whole.subarray(1);
  const copy = ownBuffer(part);
  assert.notEqual(copy, whole.buffer);
  assert.deepEqual([...new Uint8Array(copy)], [2, 3]);
});

test('backoff: reconnectionDelay doubling per attempt, ±randomizationFactor, capped', () => {
  const opts = { reconnectionDelay: 1000, reconnectionDelayMax: 5000, randomizationFactor: 0.5 };
  assert.equal(backoffDelay(opts, 0, 0.5), 1000);
  assert.equal(backoffDelay(opts, 0, 0), 500);
  assert.equal(backoffDelay(opts, 0, 1), 1500);
  assert.equal(backoffDelay(opts, 1, 0.5), 2000);
  assert.equal(backoffDelay(opts, 2, 0.75), 5000);
  assert.equal(backoffDelay(opts, 10, 0), 5000);
  assert.equal(backoffDelay({ ...opts, randomizationFactor: 0 }, 1, 0.9), 2000);
});
