/**
 * Autobahn TestSuite categories 1 (framing), 2 (pings/pongs), 3 (reserved
 * bits) and 4 (opcodes), case by case, against the real server's /echo over
 * a raw TCP socket with hand-made frames.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { OP, RawClient, frame, startServer, type TestServer } from './raw-client.js';

let server: TestServer;
before(async () => { server = await startServer(); });
after(async () => { await server.close(); });

const connect = () => RawClient.connect(server.port);

/** Text payload of n bytes (ASCII, so any length is valid UTF-8). */
function text(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 0x20 + (i % 95);
  return b;
}

async function expectEcho(c: RawClient, opcode: number, payload: Buffer, timeout = 3000): Promise<void> {
  const f = await c.nextFrame(timeout);
  assert.equal(f.opcode, opcode, `opcode of the echo (got ${f.opcode}${f.opcode === 8 ? ', close ' + f.payload.readUInt16BE(0) : ''})`);
  assert.equal(f.fin, true);
  assert.equal(f.rsv, 0);
  assert.equal(f.masked, false);
  assert.equal(f.payload.length, payload.length);
  assert.ok(f.payload.equals(payload), 'echoed payload differs');
}

describe('1. framing', () => {
  for (const [kind, opcode] of [['text', OP.text], ['binary', OP.binary]] as const) {
    for (const n of [0, 125, 126, 127, 128, 65535, 65536]) {
      test(`1.x ${kind} message of ${n} bytes is echoed`, async () => {
        const c = await connect();
        const payload = kind === 'text' ? text(n) : randomBytes(n);
        await c.send({ opcode, payload });
        await expectEcho(c, opcode, payload);
        await c.closeAndWait();
      });
    }
    test(`1.x ${kind} message of 65536 bytes sent in 997-byte TCP writes is echoed`, async () => {
      const c = await connect();
      const payload = kind === 'text' ? text(65536) : randomBytes(65536);
      const bytes = frame({ opcode, payload });
      const cuts: number[] = [];
      for (let i = 997; i < bytes.length; i += 997) cuts.push(i);
      await c.writeInPieces(bytes, cuts, 0);
      await expectEcho(c, opcode, payload);
      await c.closeAndWait();
    });
    test(`1.x ${kind} message of 16 MiB is echoed`, async () => {
      const c = await connect();
      const payload = kind === 'text' ? text(16 * 1024 * 1024) : randomBytes(16 * 1024 * 1024);
      await c.send({ opcode, payload });
      await expectEcho(c, opcode, payload, 15000);
      await c.closeAndWait();
    });
  }

  test('1.x many frames in one TCP write are all echoed, in order', async () => {
    const c = await connect();
    const payloads = Array.from({ length: 200 }, (_, i) => text(i * 7));
    await c.write(Buffer.concat(payloads.map((p) => frame({ opcode: OP.text, payload: p }))));
    for (const p of payloads) await expectEcho(c, OP.text, p);
    await c.closeAndWait();
  });

  test('1.x a frame whose 64-bit length is not minimal is still accepted', async () => {
    // §5.2 says "the minimal number of bytes MUST be used" for senders; receivers may be lenient, ws is.
    const c = await connect();
    const payload = Buffer.from('short');
    const key = randomBytes(4);
    const head = Buffer.from([0x81, 0x80 | 126, 0, payload.length]);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i & 3]!;
    await c.write(Buffer.concat([head, key, masked]));
    await expectEcho(c, OP.text, payload);
    await c.closeAndWait();
  });

  test('1.x an unmasked client frame fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'hello', mask: false });
    await c.expectClose(1002);
  });
});

describe('2. pings and pongs', () => {
  test('2.1 ping with no payload gets an empty pong', async () => {
    const c = await connect();
    await c.send({ opcode: OP.ping });
    await expectEcho(c, OP.pong, Buffer.alloc(0));
    await c.closeAndWait();
  });
  test('2.2 ping with a text payload gets it back in the pong', async () => {
    const c = await connect();
    await c.send({ opcode: OP.ping, payload: 'Hello, world!' });
    await expectEcho(c, OP.pong, Buffer.from('Hello, world!'));
    await c.closeAndWait();
  });
  test('2.3 ping with a binary payload gets it back in the pong', async () => {
    const c = await connect();
    const p = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
    await c.send({ opcode: OP.ping, payload: p });
    await expectEcho(c, OP.pong, p);
    await c.closeAndWait();
  });
  test('2.4 ping with a 125-byte payload gets it back', async () => {
    const c = await connect();
    const p = randomBytes(125);
    await c.send({ opcode: OP.ping, payload: p });
    await expectEcho(c, OP.pong, p);
    await c.closeAndWait();
  });
  test('2.5 ping with a 126-byte payload fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.ping, payload: randomBytes(126) });
    await c.expectClose(1002);
  });
  test('2.6 ping with a 125-byte payload sent one byte per TCP write gets its pong', async () => {
    const c = await connect();
    const p = randomBytes(125);
    const bytes = frame({ opcode: OP.ping, payload: p });
    await c.writeInPieces(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1), 1);
    await expectEcho(c, OP.pong, p);
    await c.closeAndWait();
  });
  test('2.7 an unsolicited pong with no payload is ignored', async () => {
    const c = await connect();
    await c.send({ opcode: OP.pong });
    await c.send({ opcode: OP.text, payload: 'after' });
    await expectEcho(c, OP.text, Buffer.from('after'));
    await c.closeAndWait();
  });
  test('2.8 an unsolicited pong with a payload is ignored', async () => {
    const c = await connect();
    await c.send({ opcode: OP.pong, payload: 'unsolicited pong payload' });
    await c.send({ opcode: OP.text, payload: 'after' });
    await expectEcho(c, OP.text, Buffer.from('after'));
    await c.closeAndWait();
  });
  test('2.9 an unsolicited pong then a ping: only the ping is answered', async () => {
    const c = await connect();
    await c.send({ opcode: OP.pong, payload: 'unsolicited pong payload' });
    await c.send({ opcode: OP.ping, payload: 'ping payload' });
    await expectEcho(c, OP.pong, Buffer.from('ping payload'));
    await c.send({ opcode: OP.text, payload: 'after' });
    await expectEcho(c, OP.text, Buffer.from('after'));
    await c.closeAndWait();
  });
  test('2.10 ten pings in a row get ten pongs in order', async () => {
    const c = await connect();
    for (let i = 0; i < 10; i++) await c.send({ opcode: OP.ping, payload: `payload-${i}` });
    for (let i = 0; i < 10; i++) await expectEcho(c, OP.pong, Buffer.from(`payload-${i}`));
    await c.closeAndWait();
  });
  test('2.11 ten pings sent one byte per TCP write get ten pongs in order', async () => {
    const c = await connect();
    const bytes = Buffer.concat(Array.from({ length: 10 }, (_, i) => frame({ opcode: OP.ping, payload: `payload-${i}` })));
    await c.writeInPieces(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1), 0);
    for (let i = 0; i < 10; i++) await expectEcho(c, OP.pong, Buffer.from(`payload-${i}`));
    await c.closeAndWait();
  });
  test('2.x a thousand pings in one write get a thousand pongs', async () => {
    const c = await connect();
    await c.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame({ opcode: OP.ping, payload: String(i) }))));
    for (let i = 0; i < 1000; i++) await expectEcho(c, OP.pong, Buffer.from(String(i)));
    await c.closeAndWait();
  });
});

describe('3. reserved bits', () => {
  test('3.1 RSV1 on a small text frame (no extension negotiated) fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'Hello, world!', rsv: 4 });
    await c.expectClose(1002);
  });
  test('3.2 RSV2 after a valid text frame: echo, then 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'Hello, world!' });
    await c.send({ opcode: OP.text, payload: 'Hello, world!', rsv: 2 });
    await expectEcho(c, OP.text, Buffer.from('Hello, world!'));
    await c.expectClose(1002);
  });
  test('3.3 RSV1|RSV2 sent in the same write as a valid frame: echo, then 1002, then nothing', async () => {
    const c = await connect();
    await c.write(Buffer.concat([
      frame({ opcode: OP.text, payload: 'Hello, world!' }),
      frame({ opcode: OP.text, payload: 'Hello, world!', rsv: 6 }),
      frame({ opcode: OP.ping, payload: '' }),
    ]));
    await expectEcho(c, OP.text, Buffer.from('Hello, world!'));
    await c.expectClose(1002);
    assert.deepEqual(await c.framesUntilEnd(), []);
  });
  test('3.4 RSV3 on a text frame after a ping: pong, then 1002', async () => {
    const c = await connect();
    await c.write(Buffer.concat([
      frame({ opcode: OP.ping, payload: 'p' }),
      frame({ opcode: OP.text, payload: 'Hello', rsv: 1 }),
    ]));
    await expectEcho(c, OP.pong, Buffer.from('p'));
    await c.expectClose(1002);
  });
  test('3.5 RSV1|RSV3 on a binary frame fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.binary, payload: randomBytes(8), rsv: 5 });
    await c.expectClose(1002);
  });
  test('3.6 RSV2|RSV3 on a ping fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.ping, payload: 'Hello, world!', rsv: 3 });
    await c.expectClose(1002);
  });
  test('3.7 all RSV bits on a close frame fail with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.close, payload: Buffer.from([0x03, 0xe8]), rsv: 7 });
    await c.expectClose(1002);
  });
  test('3.x RSV1 on a continuation frame fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'frag', fin: false });
    await c.send({ opcode: OP.cont, payload: 'ment', rsv: 4 });
    await c.expectClose(1002);
  });
});

describe('4. opcodes', () => {
  for (const op of [3, 4, 5, 6, 7]) {
    test(`4.1 reserved non-control opcode ${op} fails with 1002`, async () => {
      const c = await connect();
      await c.send({ opcode: op });
      await c.expectClose(1002);
    });
    test(`4.1 reserved opcode ${op} with a payload after a valid text, before a ping: echo, 1002, no pong`, async () => {
      const c = await connect();
      await c.write(Buffer.concat([
        frame({ opcode: OP.text, payload: 'Hello, world!' }),
        frame({ opcode: op, payload: 'reserved opcode payload' }),
        frame({ opcode: OP.ping, payload: 'x' }),
      ]));
      await expectEcho(c, OP.text, Buffer.from('Hello, world!'));
      await c.expectClose(1002);
      assert.deepEqual(await c.framesUntilEnd(), []);
    });
  }
  for (const op of [11, 12, 13, 14, 15]) {
    test(`4.2 reserved control opcode ${op} fails with 1002`, async () => {
      const c = await connect();
      await c.send({ opcode: op });
      await c.expectClose(1002);
    });
    test(`4.2 reserved control opcode ${op} with a payload after a valid text: echo, then 1002`, async () => {
      const c = await connect();
      await c.send({ opcode: OP.text, payload: 'Hello, world!' });
      await c.send({ opcode: op, payload: 'reserved opcode payload' });
      await expectEcho(c, OP.text, Buffer.from('Hello, world!'));
      await c.expectClose(1002);
    });
  }
});
