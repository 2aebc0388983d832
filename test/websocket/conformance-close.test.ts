/**
 * Autobahn TestSuite category 7 (close handling), against the real server's
 * /echo over a raw TCP socket: every case checks the exact close code and
 * that the server then closes TCP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OP, RawClient, closeBody, frame, startServer, type TestServer } from './raw-client.js';

let server: TestServer;
before(async () => { server = await startServer(); });
after(async () => { await server.close(); });

const connect = () => RawClient.connect(server.port);

describe('7. close handling', () => {
  test('7.1.1 echo a message, then a normal close', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'Hello World!' });
    const f = await c.nextFrame();
    assert.equal(f.payload.toString(), 'Hello World!');
    await c.send({ opcode: OP.close, payload: closeBody(1000) });
    await c.expectClose(1000);
  });
  test('7.1.2 a second close frame is ignored', async () => {
    const c = await connect();
    await c.write(Buffer.concat([frame({ opcode: OP.close, payload: closeBody(1000) }), frame({ opcode: OP.close, payload: closeBody(1000) })]));
    await c.expectClose(1000);
    assert.deepEqual(await c.framesUntilEnd(), []);
  });
  test('7.1.3 a ping after the close is not answered', async () => {
    const c = await connect();
    await c.write(Buffer.concat([frame({ opcode: OP.close, payload: closeBody(1000) }), frame({ opcode: OP.ping, payload: 'ping' })]));
    await c.expectClose(1000);
    assert.deepEqual(await c.framesUntilEnd(), []);
  });
  test('7.1.4 a text message after the close is not echoed (data after close ignored)', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: closeBody(1000) });
    await c.send({ opcode: OP.text, payload: 'after close' });
    await c.expectClose(1000);
    assert.deepEqual(await c.framesUntilEnd(), []);
  });
  test('7.1.5 a fragmented message interrupted by a close is dropped', async () => {
    const c = await connect();
    await c.write(Buffer.concat([
      frame({ opcode: OP.text, payload: 'fragment1', fin: false }),
      frame({ opcode: OP.close, payload: closeBody(1000) }),
      frame({ opcode: OP.cont, payload: 'fragment2', fin: true }),
    ]));
    await c.expectClose(1000);
    assert.deepEqual(await c.framesUntilEnd(), []);
  });
  test('7.1.6 a large message, then a close: the echo comes whole before the close', async () => {
    const c = await connect();
    const big = Buffer.alloc(256 * 1024, 'BAsd7&jh23');
    await c.write(Buffer.concat([frame({ opcode: OP.text, payload: big }), frame({ opcode: OP.close, payload: closeBody(1000) })]));
    const f = await c.nextFrame(5000);
    assert.equal(f.opcode, OP.text);
    assert.ok(f.payload.equals(big));
    await c.expectClose(1000);
  });
  test('7.3.1 a close with no payload is answered with an empty close', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close });
    await c.expectClose(undefined);
  });
  test('7.3.2 a close with a 1-byte payload fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: Buffer.from([0x03]) });
    await c.expectClose(1002);
  });
  test('7.3.3 a close with a code only gets the code back', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: closeBody(1000) });
    await c.expectClose(1000);
  });
  test('7.3.4 a close with a code and a reason gets the code back', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: closeBody(1000, 'Hello World!') });
    await c.expectClose(1000);
  });
  test('7.3.5 a close with a code and a 123-byte reason is accepted', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: closeBody(1000, 'x'.repeat(123)) });
    await c.expectClose(1000);
  });
  test('7.3.6 a close with a 124-byte reason (payload 126) fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: closeBody(1000, 'x'.repeat(124)) });
    await c.expectClose(1002);
  });
  test('7.5.1 a close reason with invalid UTF-8 fails with 1007', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: closeBody(1000, Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex')) });
    await c.expectClose(1007);
  });
  test('7.5.x a close reason ending in a truncated character fails with 1007', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: closeBody(1000, Buffer.from('ok\xe2\x82', 'latin1')) });
    await c.expectClose(1007);
  });
  test('7.5.x a close reason with valid multi-byte UTF-8 is accepted', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: closeBody(1001, 'κόσμε 😀') });
    await c.expectClose(1001);
  });

  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
    test(`7.7 valid close code ${code} is echoed`, async () => {
      const c = await connect();
      await c.send({ opcode: OP.close, payload: closeBody(code) });
      await c.expectClose(code);
    });
  }
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
    test(`7.9 invalid close code ${code} fails with 1002`, async () => {
      const c = await connect();
      await c.send({ opcode: OP.close, payload: closeBody(code) });
      await c.expectClose(1002);
    });
  }

  test('7.x a close frame sent one byte per TCP write is echoed', async () => {
    const c = await connect();
    const bytes = frame({ opcode: OP.close, payload: closeBody(1000, 'bye') });
    await c.writeInPieces(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1), 1);
    await c.expectClose(1000);
  });
  test('7.x a fragmented close fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: closeBody(1000), fin: false });
    await c.expectClose(1002);
  });
  test('7.x the server closes TCP itself after the close handshake (client never ends)', async () => {
    const c = await connect();
    const started = Date.now();
    await c.send({ opcode: OP.close, payload: closeBody(1000) });
    await c.expectClose(1000, 1000);
    assert.ok(c.ended, 'the server must send FIN (socket "end" on the client)');
    assert.ok(c.endedAt - started < 1000, `TCP closed after ${c.endedAt - started} ms`);
  });
  test('7.x TCP closed by the client without a close frame: the server lets go', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'bye' });
    await c.nextFrame();
    c.socket.end();
    await c.waitEnd(2000);
  });
  test('7.x server-initiated close (shutdown): 1001 first, and TCP closed once the client answers', async () => {
    const own = await startServer();
    try {
      const c = await RawClient.connect(own.port);
      const stopping = own.pushwire.shutdown();
      const f = await c.nextFrame(2000);
      assert.equal(f.opcode, OP.close);
      assert.equal(f.payload.readUInt16BE(0), 1001);
      assert.equal(c.ended, false, 'the server waits for our close before ending TCP');
      await c.send({ opcode: OP.close, payload: closeBody(1001) });
      await c.waitEnd(2000);
      await stopping;
    } finally {
      await own.close();
    }
  });
  test('7.x a failed connection ignores everything the client sends after the bad frame', async () => {
    const c = await connect();
    await c.write(Buffer.concat([
      frame({ opcode: OP.text, payload: 'ok' }),
      frame({ opcode: 3 }),
      frame({ opcode: OP.text, payload: 'ignored' }),
      frame({ opcode: OP.ping, payload: 'ignored' }),
      frame({ opcode: OP.close, payload: closeBody(1000) }),
    ]));
    const first = await c.nextFrame();
    assert.equal(first.payload.toString(), 'ok');
    await c.expectClose(1002);
    assert.deepEqual(await c.framesUntilEnd(), []);
  });
});
