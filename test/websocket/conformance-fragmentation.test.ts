/**
 * Autobahn TestSuite categories 5 (fragmentation), 9 (limits and
 * performance: big messages) and 10 (misc: many fragments), against the real
 * server's /echo over a raw TCP socket.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { OP, RawClient, frame, startServer, type TestServer } from './raw-client.js';

const MiB = 1024 * 1024;
let server: TestServer;
let small: TestServer; // --max-message 1 MiB
before(async () => {
  server = await startServer();
  small = await startServer({ maxMessage: MiB });
});
after(async () => {
  await server.close();
  await small.close();
});

const connect = () => RawClient.connect(server.port);

async function expectEcho(c: RawClient, opcode: number, payload: Buffer, timeout = 3000): Promise<void> {
  const f = await c.nextFrame(timeout);
  assert.equal(f.opcode, opcode, `opcode of the echo (got ${f.opcode}${f.opcode === 8 ? ', close ' + f.payload.readUInt16BE(0) : ''})`);
  assert.equal(f.fin, true);
  assert.equal(f.masked, false);
  assert.equal(f.payload.length, payload.length);
  assert.ok(f.payload.equals(payload), 'echoed payload differs');
}

/** Cuts payload into frames of `size` bytes: the first with `opcode`, the rest continuations, FIN on the last. */
function fragments(opcode: number, payload: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length || out.length === 0; at += size) {
    const last = at + size >= payload.length;
    out.push(frame({ opcode: out.length === 0 ? opcode : OP.cont, payload: payload.subarray(at, at + size), fin: last }));
  }
  return out;
}

describe('5. fragmentation', () => {
  test('5.1 a fragmented ping fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.ping, payload: 'frag', fin: false });
    await c.send({ opcode: OP.cont, payload: 'ment', fin: true });
    await c.expectClose(1002);
  });
  test('5.2 a fragmented pong fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.pong, payload: 'frag', fin: false });
    await c.send({ opcode: OP.cont, payload: 'ment', fin: true });
    await c.expectClose(1002);
  });
  test('5.3 a text message in two fragments is echoed whole', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'frag', fin: false });
    await c.send({ opcode: OP.cont, payload: 'ment1', fin: true });
    await expectEcho(c, OP.text, Buffer.from('fragment1'));
    await c.closeAndWait();
  });
  test('5.4 the same, both fragments in one write', async () => {
    const c = await connect();
    await c.write(Buffer.concat([frame({ opcode: OP.text, payload: 'frag', fin: false }), frame({ opcode: OP.cont, payload: 'ment1' })]));
    await expectEcho(c, OP.text, Buffer.from('fragment1'));
    await c.closeAndWait();
  });
  test('5.5 the same, sent one byte per TCP write', async () => {
    const c = await connect();
    const bytes = Buffer.concat([frame({ opcode: OP.text, payload: 'frag', fin: false }), frame({ opcode: OP.cont, payload: 'ment1' })]);
    await c.writeInPieces(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1), 1);
    await expectEcho(c, OP.text, Buffer.from('fragment1'));
    await c.closeAndWait();
  });
  test('5.6 a ping between two text fragments is answered first', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'frag', fin: false });
    await c.send({ opcode: OP.ping, payload: 'ping payload' });
    await c.send({ opcode: OP.cont, payload: 'ment1' });
    await expectEcho(c, OP.pong, Buffer.from('ping payload'));
    await expectEcho(c, OP.text, Buffer.from('fragment1'));
    await c.closeAndWait();
  });
  test('5.7 the same in one write', async () => {
    const c = await connect();
    await c.write(Buffer.concat([
      frame({ opcode: OP.text, payload: 'frag', fin: false }),
      frame({ opcode: OP.ping, payload: 'ping payload' }),
      frame({ opcode: OP.cont, payload: 'ment1' }),
    ]));
    await expectEcho(c, OP.pong, Buffer.from('ping payload'));
    await expectEcho(c, OP.text, Buffer.from('fragment1'));
    await c.closeAndWait();
  });
  test('5.8 a pong between binary fragments is ignored', async () => {
    const c = await connect();
    const a = randomBytes(10);
    const b = randomBytes(10);
    await c.send({ opcode: OP.binary, payload: a, fin: false });
    await c.send({ opcode: OP.pong, payload: 'unsolicited' });
    await c.send({ opcode: OP.cont, payload: b });
    await expectEcho(c, OP.binary, Buffer.concat([a, b]));
    await c.closeAndWait();
  });
  for (const fin of [true, false]) {
    test(`5.9/5.10 a continuation (FIN=${fin}) with no message started fails with 1002`, async () => {
      const c = await connect();
      await c.send({ opcode: OP.cont, payload: 'non-continuation payload', fin });
      await c.send({ opcode: OP.text, payload: 'Hello, world!' });
      await c.expectClose(1002);
    });
  }
  test('5.11 a continuation without start, sent one byte per write, fails with 1002', async () => {
    const c = await connect();
    const bytes = frame({ opcode: OP.cont, payload: 'non-continuation payload' });
    await c.writeInPieces(bytes, [1, 2, 3, 4, 5, 6], 1);
    await c.expectClose(1002);
  });
  test('5.12 a new text message inside a fragmented one fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'frag', fin: false });
    await c.send({ opcode: OP.text, payload: 'new', fin: true });
    await c.expectClose(1002);
  });
  test('5.13 a new binary message inside a fragmented text one fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'frag', fin: false });
    await c.send({ opcode: OP.binary, payload: 'new', fin: false });
    await c.expectClose(1002);
  });
  test('5.14 a continuation after a completed message fails with 1002', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: 'whole' });
    await c.send({ opcode: OP.cont, payload: 'more', fin: true });
    await expectEcho(c, OP.text, Buffer.from('whole'));
    await c.expectClose(1002);
  });
  test('5.15 fragments 1+2 complete, then 3+4 where 4 starts a new message inside 3: echo, then 1002', async () => {
    const c = await connect();
    await c.write(Buffer.concat([
      frame({ opcode: OP.text, payload: 'fragment1', fin: false }),
      frame({ opcode: OP.cont, payload: 'fragment2', fin: true }),
      frame({ opcode: OP.cont, payload: 'fragment3', fin: false }),
      frame({ opcode: OP.text, payload: 'fragment4', fin: true }),
    ]));
    await expectEcho(c, OP.text, Buffer.from('fragment1fragment2'));
    await c.expectClose(1002);
  });
  test('5.16 empty fragments make an empty message', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text, payload: '', fin: false });
    await c.send({ opcode: OP.cont, payload: '', fin: false });
    await c.send({ opcode: OP.cont, payload: '', fin: true });
    await expectEcho(c, OP.text, Buffer.alloc(0));
    await c.closeAndWait();
  });
  test('5.19 pings between five fragments sent with delays: pongs, then the whole message', async () => {
    const c = await connect();
    const parts = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
    for (let i = 0; i < parts.length; i++) {
      await c.send({ opcode: i === 0 ? OP.text : OP.cont, payload: parts[i], fin: i === parts.length - 1 });
      if (i < parts.length - 1) await c.send({ opcode: OP.ping, payload: `pongme ${i}` });
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < 4; i++) await expectEcho(c, OP.pong, Buffer.from(`pongme ${i}`));
    await expectEcho(c, OP.text, Buffer.from(parts.join('')));
    await c.closeAndWait();
  });
  test('5.x a text message in 1-byte fragments is echoed whole', async () => {
    const c = await connect();
    const payload = Buffer.from('1-byte fragments: κόσμε ✓ 𝄞');
    await c.write(Buffer.concat(fragments(OP.text, payload, 1)));
    await expectEcho(c, OP.text, payload);
    await c.closeAndWait();
  });
  test('5.x a binary message in 10,000 fragments is echoed whole', async () => {
    const c = await connect();
    const payload = randomBytes(30000);
    await c.write(Buffer.concat(fragments(OP.binary, payload, 3)));
    await expectEcho(c, OP.binary, payload, 5000);
    await c.closeAndWait();
  });
  test('5.x a 1 MiB binary message in 64 KiB frames is echoed whole', async () => {
    const c = await connect();
    const payload = randomBytes(MiB);
    for (const f of fragments(OP.binary, payload, 64 * 1024)) await c.write(f);
    await expectEcho(c, OP.binary, payload, 5000);
    await c.closeAndWait();
  });
});

describe('9. limits', () => {
  test('9.1 a 16 MiB text message in one frame is echoed intact', async () => {
    const c = await connect();
    const payload = Buffer.alloc(16 * MiB, 'κόσμε ');
    // Alloc fills by repeating bytes: cut on a character boundary.
    let n = payload.length;
    while ((payload[n - 1]! & 0xc0) === 0x80 || payload[n - 1]! >= 0xc0) n--;
    const valid = payload.subarray(0, n);
    await c.send({ opcode: OP.text, payload: valid });
    await expectEcho(c, OP.text, valid, 15000);
    await c.closeAndWait();
  });
  test('9.3 a 16 MiB binary message in 64 KiB frames is echoed intact', async () => {
    const c = await connect();
    const payload = randomBytes(16 * MiB);
    await c.write(Buffer.concat(fragments(OP.binary, payload, 64 * 1024)));
    await expectEcho(c, OP.binary, payload, 15000);
    await c.closeAndWait();
  });
  test('9.x a message of exactly --max-message bytes is accepted', async () => {
    const c = await RawClient.connect(small.port);
    const payload = randomBytes(MiB);
    await c.send({ opcode: OP.binary, payload });
    await expectEcho(c, OP.binary, payload, 5000);
    await c.closeAndWait();
  });
  test('9.x a frame header announcing more than --max-message fails with 1009 before any payload is sent', async () => {
    const c = await RawClient.connect(small.port);
    const head = frame({ opcode: OP.binary, declaredLength: MiB + 1 });
    await c.write(head); // the header alone: 2 + 8 + 4 bytes
    await c.expectClose(1009);
  });
  test('9.x a text frame header announcing 2 MiB is refused the same way', async () => {
    const c = await RawClient.connect(small.port);
    await c.write(frame({ opcode: OP.text, declaredLength: 2 * MiB }));
    await c.expectClose(1009);
  });
  test('9.x fragments that together pass --max-message fail with 1009 at the header that passes it', async () => {
    const c = await RawClient.connect(small.port);
    await c.send({ opcode: OP.binary, payload: randomBytes(MiB / 2), fin: false });
    await c.send({ opcode: OP.cont, payload: randomBytes(MiB / 2), fin: false });
    await c.write(frame({ opcode: OP.cont, declaredLength: 1, fin: true })); // header only
    await c.expectClose(1009);
  });
  test('9.x a 64-bit length with the top bit set fails with 1002', async () => {
    const c = await connect();
    const head = frame({ opcode: OP.binary, declaredLength: 0 });
    const bad = Buffer.concat([Buffer.from([0x82, 0x80 | 127]), Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 1]), head.subarray(2, 6)]);
    await c.write(bad);
    await c.expectClose(1002);
  });
  test('9.x a huge 64-bit length (2^52) fails with 1009 from the header', async () => {
    const c = await connect();
    await c.write(frame({ opcode: OP.binary, declaredLength: 2 ** 52 }));
    await c.expectClose(1009);
  });
  test('9.7 a thousand small text messages in one write are all echoed in order', async () => {
    const c = await connect();
    const msgs = Array.from({ length: 1000 }, (_, i) => Buffer.from(`message ${i} ✓`));
    await c.write(Buffer.concat(msgs.map((m) => frame({ opcode: OP.text, payload: m }))));
    for (const m of msgs) await expectEcho(c, OP.text, m);
    await c.closeAndWait();
  });
});

describe('10. misc', () => {
  test('10.1 a 64 KiB text message in 1300-byte fragments, each its own write, is echoed whole', async () => {
    const c = await connect();
    const payload = Buffer.alloc(64 * 1024, 'abcdefghij');
    for (const f of fragments(OP.text, payload, 1300)) await c.write(f);
    await expectEcho(c, OP.text, payload);
    await c.closeAndWait();
  });
  test('10.x a 1 MiB text message of 4-byte characters in 1000 fragments split inside characters', async () => {
    const c = await connect();
    const payload = Buffer.from('𝄞'.repeat(MiB / 4));
    await c.write(Buffer.concat(fragments(OP.text, payload, 1049)));
    await expectEcho(c, OP.text, payload, 5000);
    await c.closeAndWait();
  });
});
