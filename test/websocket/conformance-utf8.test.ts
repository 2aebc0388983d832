/**
 * Autobahn TestSuite category 6 (UTF-8 handling), with fail-fast: the server
 * must close with 1007 as soon as an invalid byte arrives, not when the
 * message completes. Real server, /echo, raw TCP socket.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OP, RawClient, frame, startServer, type TestServer } from './raw-client.js';

let server: TestServer;
before(async () => { server = await startServer(); });
after(async () => { await server.close(); });

const connect = () => RawClient.connect(server.port);
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

async function expectEcho(c: RawClient, payload: Buffer): Promise<void> {
  const f = await c.nextFrame();
  assert.equal(f.opcode, OP.text, `expected a text echo, got opcode ${f.opcode}${f.opcode === 8 ? ' close ' + f.payload.readUInt16BE(0) : ''}`);
  assert.ok(f.payload.equals(payload), 'echoed payload differs');
}

// "κόσμε" (Markus Kuhn's test word): CE BA E1 BD B9 CF 83 CE BC CE B5.
const KOSME = hex('cebae1bdb9cf83cebcceb5');

/** Valid sequences, each echoed unchanged whole, fragmented at every byte, and split across writes. */
const VALID: Array<[string, Buffer]> = [
  ['empty', Buffer.alloc(0)],
  ['κόσμε', KOSME],
  ['U+0000', hex('00')],
  ['U+007F', hex('7f')],
  ['U+0080', hex('c280')],
  ['U+07FF', hex('dfbf')],
  ['U+0800', hex('e0a080')],
  ['U+D7FF (below surrogates)', hex('ed9fbf')],
  ['U+E000 (above surrogates)', hex('ee8080')],
  ['U+FFFD', hex('efbfbd')],
  ['U+FFFE/U+FFFF noncharacters', hex('efbfbeefbfbf')],
  ['U+10000', hex('f0908080')],
  ['U+10FFFF', hex('f48fbfbf')],
  ['mixed text', Buffer.from('Hello-µ@ßöäüàá-UTF-8!! 😀 𝄞 中文')],
];

/** Invalid sequences (RFC 3629): each must close with 1007. */
const INVALID: Array<[string, Buffer]> = [
  ['κόσμε + U+110000 (F4 90 80 80) + edited', Buffer.concat([KOSME, hex('f4908080'), Buffer.from('-edited')])],
  ['lone continuation 0x80', hex('80')],
  ['lone continuation 0xBF', hex('bf')],
  ['a run of continuations', hex('808182838485')],
  ['lead C0', hex('c0')],
  ['lead C1 + continuation (overlong)', hex('c1bf')],
  ['overlong "/" 2 bytes', hex('c0af')],
  ['overlong "/" 3 bytes', hex('e080af')],
  ['overlong "/" 4 bytes', hex('f08080af')],
  ['overlong U+07FF in 3 bytes', hex('e09fbf')],
  ['overlong U+FFFF in 4 bytes', hex('f08fbfbf')],
  ['overlong NUL 2 bytes', hex('c080')],
  ['high surrogate U+D800', hex('eda080')],
  ['high surrogate U+DB7F', hex('edadbf')],
  ['low surrogate U+DC00', hex('edb080')],
  ['low surrogate U+DFFF', hex('edbfbf')],
  ['surrogate pair U+D800 U+DC00', hex('eda080edb080')],
  ['U+110000', hex('f4908080')],
  ['U+13FFFF', hex('f4bfbfbf')],
  ['lead F5', hex('f5808080')],
  ['lead F8 (5-byte form)', hex('f888808080')],
  ['lead FC (6-byte form)', hex('fc8480808080')],
  ['byte FE', hex('fe')],
  ['byte FF', hex('ff')],
  ['2-byte lead then ASCII', hex('c241')],
  ['3-byte lead, one continuation, then ASCII', hex('e0a041')],
  ['truncated 2-byte at end', Buffer.concat([KOSME, hex('c2')])],
  ['truncated 3-byte at end', Buffer.concat([KOSME, hex('e0a0')])],
  ['truncated 4-byte at end', Buffer.concat([KOSME, hex('f09080')])],
  ['valid text, then an invalid byte in the middle of a long message', Buffer.concat([Buffer.alloc(1000, 'a'), hex('ff'), Buffer.alloc(1000, 'b')])],
];

describe('6. UTF-8 handling', () => {
  test('6.1 an empty text message and empty fragments are valid', async () => {
    const c = await connect();
    await c.send({ opcode: OP.text });
    await expectEcho(c, Buffer.alloc(0));
    await c.send({ opcode: OP.text, fin: false });
    await c.send({ opcode: OP.cont, fin: false });
    await c.send({ opcode: OP.cont, payload: 'middle', fin: false });
    await c.send({ opcode: OP.cont, fin: true });
    await expectEcho(c, Buffer.from('middle'));
    await c.closeAndWait();
  });

  test('6.2-6.x valid sequences are echoed whole, in 1-byte fragments, and split across TCP writes', async () => {
    const c = await connect();
    for (const [, bytes] of VALID) {
      await c.send({ opcode: OP.text, payload: bytes });
      await expectEcho(c, bytes);
      // One byte per fragment: every code point split across fragments.
      const frames: Buffer[] = [];
      for (let i = 0; i < bytes.length; i++) frames.push(frame({ opcode: i === 0 ? OP.text : OP.cont, payload: bytes.subarray(i, i + 1), fin: i === bytes.length - 1 }));
      if (frames.length > 0) {
        await c.write(Buffer.concat(frames));
        await expectEcho(c, bytes);
      }
      // One frame, cut at every byte into separate TCP writes.
      const whole = frame({ opcode: OP.text, payload: bytes });
      await c.writeInPieces(whole, Array.from({ length: whole.length - 1 }, (_, i) => i + 1), 0);
      await expectEcho(c, bytes);
    }
    await c.closeAndWait();
  });

  test('6.x a long valid multi-byte text split at every fragment size from 1 to 13 is echoed', async () => {
    const c = await connect();
    const bytes = Buffer.from('κόσμε 😀 中文 '.repeat(20));
    for (let size = 1; size <= 13; size++) {
      const frames: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += size) {
        frames.push(frame({ opcode: at === 0 ? OP.text : OP.cont, payload: bytes.subarray(at, at + size), fin: at + size >= bytes.length }));
      }
      await c.write(Buffer.concat(frames));
      await expectEcho(c, bytes);
    }
    await c.closeAndWait();
  });

  for (const [name, bytes] of INVALID) {
    test(`6.x invalid: ${name} → 1007 (whole frame)`, async () => {
      const c = await connect();
      await c.send({ opcode: OP.text, payload: bytes });
      await c.expectClose(1007);
    });
    test(`6.x invalid: ${name} → 1007 (1-byte fragments)`, async () => {
      const c = await connect();
      const frames: Buffer[] = [];
      for (let i = 0; i < bytes.length; i++) frames.push(frame({ opcode: i === 0 ? OP.text : OP.cont, payload: bytes.subarray(i, i + 1), fin: i === bytes.length - 1 }));
      await c.write(Buffer.concat(frames));
      await c.expectClose(1007);
    });
  }

  test('6.x invalid UTF-8 in a binary message is not checked', async () => {
    const c = await connect();
    const bytes = hex('fffe80c0');
    await c.send({ opcode: OP.binary, payload: bytes });
    const f = await c.nextFrame();
    assert.equal(f.opcode, OP.binary);
    assert.ok(f.payload.equals(bytes));
    await c.closeAndWait();
  });

  describe('fail-fast', () => {
    test('6.4.1 first fragment valid, second holds U+110000 (no FIN): 1007 arrives before the rest is sent', async () => {
      const c = await connect();
      await c.send({ opcode: OP.text, payload: KOSME, fin: false });
      await c.send({ opcode: OP.cont, payload: hex('f4908080'), fin: false });
      // Nothing more is sent: the message cannot complete, so only fail-fast can produce the close.
      await c.expectClose(1007, 2000);
    });
    test('6.x first fragment with an invalid byte, no FIN: 1007 without sending more', async () => {
      const c = await connect();
      await c.send({ opcode: OP.text, payload: Buffer.concat([Buffer.from('Hello-µ@ßöäüàá-'), hex('c0af'), Buffer.from('more')]), fin: false });
      await c.expectClose(1007, 2000);
    });
    test('6.x a surrogate at the very end of an unfinished first fragment: 1007 at once', async () => {
      const c = await connect();
      await c.send({ opcode: OP.text, payload: Buffer.concat([KOSME, hex('eda0')]), fin: false });
      await c.expectClose(1007, 2000);
    });
    test('6.4.2 one frame sent in pieces across TCP writes: 1007 after the piece with the invalid byte', async () => {
      const c = await connect();
      const payload = Buffer.concat([KOSME, hex('f4908080'), Buffer.from('-edited')]);
      const whole = frame({ opcode: OP.text, payload });
      // Header + κόσμε, then F4 90 (not yet decidable... F4 90 is: above U+10FFFF already), and never the rest.
      const headerLen = whole.length - payload.length;
      const sent = (await server.handled(c)).bytesWritten;
      await c.write(whole.subarray(0, headerLen + KOSME.length));
      const peer = await server.handled(c);
      assert.equal(peer.bytesWritten, sent, 'nothing sent back: a valid prefix must not close the connection');
      await c.write(whole.subarray(headerLen + KOSME.length, headerLen + KOSME.length + 2));
      await c.expectClose(1007, 2000);
    });
    test('6.4.3 one frame in pieces where the invalid byte is the only byte of its write', async () => {
      const c = await connect();
      const payload = Buffer.concat([Buffer.alloc(100, 'x'), hex('ff'), Buffer.alloc(100, 'y')]);
      const whole = frame({ opcode: OP.text, payload });
      const headerLen = whole.length - payload.length;
      const sent = (await server.handled(c)).bytesWritten;
      await c.write(whole.subarray(0, headerLen + 100));
      const peer = await server.handled(c);
      assert.equal(peer.bytesWritten, sent, 'nothing sent back: a valid prefix must not close the connection');
      await c.write(whole.subarray(headerLen + 100, headerLen + 101));
      await c.expectClose(1007, 2000);
    });
    test('6.4.4 a valid prefix ending inside a 4-byte character keeps the connection open until the bad byte', async () => {
      const c = await connect();
      const payload = Buffer.concat([KOSME, hex('f0 90'), hex('41'), Buffer.from('tail')]);
      const whole = frame({ opcode: OP.text, payload });
      const headerLen = whole.length - payload.length;
      const sent = (await server.handled(c)).bytesWritten;
      await c.write(whole.subarray(0, headerLen + KOSME.length + 2)); // ends with F0 90: still a possible character
      const peer = await server.handled(c);
      assert.equal(peer.bytesWritten, sent, 'nothing sent back: an incomplete but possible sequence must not fail yet');
      await c.write(whole.subarray(headerLen + KOSME.length + 2, headerLen + KOSME.length + 3)); // 0x41 breaks it
      await c.expectClose(1007, 2000);
    });
  });
});
