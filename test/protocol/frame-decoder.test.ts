/**
 * FrameDecoder byte vectors: every stream is decoded whole, one byte at a
 * time and cut at every split point, and must give the same events each time.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { CLIENT, KEY, Recorder, SERVER, buildFrame, byteCuts, decode, pendingBytes, show, type Event } from './helpers.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Decodes whole, byte by byte and at every single split point; all must equal `expected`. */
function check(bytes: Buffer, expected: unknown[], options = SERVER): void {
  assert.deepEqual(show(decode(bytes, [], options)), expected, 'whole');
  assert.deepEqual(show(decode(bytes, byteCuts(bytes.length), options)), expected, 'one byte at a time');
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(show(decode(bytes, [cut], options)), expected, `split at ${cut}`);
  }
  // Three-way splits, on a sample of positions (all of them for short streams).
  const step = Math.max(1, Math.floor(bytes.length / 24));
  for (let a = 1; a < bytes.length; a += step) {
    for (let b = a + 1; b < bytes.length; b += step) {
      assert.deepEqual(show(decode(bytes, [a, b], options)), expected, `split at ${a}, ${b}`);
    }
  }
}

const text = (s: string | Buffer) => ['message', 'text', false, Buffer.from(s).toString('hex')];
const binary = (b: Buffer) => ['message', 'binary', false, b.toString('hex')];
const error = (code: number) => ['error', code];

describe('RFC 6455 §5.7 examples', () => {
  test('a single-frame unmasked text message "Hello" (client side)', () => {
    check(hex('81 05 48 65 6c 6c 6f'), [text('Hello')], CLIENT);
  });
  test('a single-frame masked text message "Hello" (server side)', () => {
    check(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), [text('Hello')]);
  });
  test('a fragmented unmasked text message "Hel" + "lo"', () => {
    check(hex('01 03 48 65 6c 80 02 6c 6f'), [text('Hello')], CLIENT);
  });
  test('an unmasked ping and a masked pong, each "Hello"', () => {
    check(hex('89 05 48 65 6c 6c 6f'), [['ping', Buffer.from('Hello').toString('hex')]], CLIENT);
    check(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'), [['pong', Buffer.from('Hello').toString('hex')]]);
  });
  test('256 bytes binary in a 16-bit length, 65536 bytes in a 64-bit length (unmasked)', () => {
    const b256 = Buffer.alloc(256, 0xab);
    const b64k = Buffer.alloc(65536, 0xcd);
    assert.deepEqual(show(decode(Buffer.concat([hex('82 7e 01 00'), b256]), [], CLIENT)), [binary(b256)]);
    assert.deepEqual(show(decode(Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), b64k]), [], CLIENT)), [binary(b64k)]);
  });
});

describe('lengths and masking', () => {
  for (const n of [0, 1, 2, 3, 4, 5, 124, 125, 126, 127, 128, 1000, 65535, 65536, 65537, 200_000]) {
    test(`a masked binary frame of ${n} bytes, whole, byte-wise (short ones) and at every split (short ones)`, () => {
      const payload = Buffer.alloc(n);
      for (let i = 0; i < n; i++) payload[i] = (i * 7 + 3) & 0xff;
      const bytes = buildFrame({ opcode: 2, payload });
      const expected = [binary(payload)];
      if (n <= 300) check(bytes, expected);
      else {
        assert.deepEqual(show(decode(bytes)), expected);
        assert.deepEqual(show(decode(bytes, [1, 2, 3, 5, 9, 14, 15, 100, 4096, bytes.length - 1])), expected);
      }
    });
  }
  test('a non-minimal 16-bit or 64-bit length is accepted', () => {
    check(buildFrame({ opcode: 1, payload: 'abc', lengthForm: 16 }), [text('abc')]);
    check(buildFrame({ opcode: 1, payload: 'abc', lengthForm: 64 }), [text('abc')]);
  });
  test('every mask key byte position: random keys unmask correctly at every split', () => {
    for (const key of [hex('00000000'), hex('ffffffff'), hex('01020304'), hex('a5 5a c3 3c')]) {
      const payload = Buffer.from('0123456789abcdefghij');
      check(buildFrame({ opcode: 1, payload, mask: key }), [text(payload)]);
    }
  });
  test('server side: an unmasked client frame fails with 1002', () => {
    check(buildFrame({ opcode: 1, payload: 'x', mask: null }), [error(1002)]);
  });
  test('client side: a masked server frame fails with 1002', () => {
    check(buildFrame({ opcode: 1, payload: 'x', mask: KEY }), [error(1002)], CLIENT);
  });
  test('a 64-bit length with the most significant bit set fails with 1002', () => {
    check(Buffer.concat([hex('82 ff 80 00 00 00 00 00 00 01'), KEY]), [error(1002)]);
  });
});

describe('streams of frames', () => {
  const stream = Buffer.concat([
    buildFrame({ opcode: 1, payload: 'first' }),
    buildFrame({ opcode: 9, payload: 'ping1' }),
    buildFrame({ opcode: 2, payload: Buffer.from([0, 1, 2]), fin: false }),
    buildFrame({ opcode: 10, payload: '' }),
    buildFrame({ opcode: 0, payload: Buffer.from([3, 4]), fin: false }),
    buildFrame({ opcode: 9, payload: 'x'.repeat(125) }),
    buildFrame({ opcode: 0, payload: Buffer.from([5]), fin: true }),
    buildFrame({ opcode: 1, payload: '' }),
    buildFrame({ opcode: 1, payload: 'κό', fin: false }),
    buildFrame({ opcode: 0, payload: Buffer.from('σμε').subarray(0, 3), fin: false }),
    buildFrame({ opcode: 0, payload: Buffer.from('σμε').subarray(3), fin: true }),
    buildFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]) }),
    buildFrame({ opcode: 1, payload: 'after close: ignored' }),
  ]);
  const expected = [
    text('first'),
    ['ping', Buffer.from('ping1').toString('hex')],
    ['pong', ''],
    ['ping', Buffer.from('x'.repeat(125)).toString('hex')],
    binary(Buffer.from([0, 1, 2, 3, 4, 5])),
    text(''),
    text('κόσμε'),
    ['close', 1000, Buffer.from('bye').toString('hex')],
  ];
  test('data, control frames between fragments, a close, then ignored input', () => {
    check(stream, expected);
  });
  test('the decoder reports done after the close and ignores later pushes', () => {
    const rec = new Recorder();
    const dec = new FrameDecoder(rec, SERVER);
    dec.push(Buffer.from(stream));
    assert.equal(dec.done, true);
    dec.push(buildFrame({ opcode: 1, payload: 'more' }));
    assert.deepEqual(show(rec.events), expected);
  });
  test('many frames in one chunk: 1000 messages', () => {
    const frames = Array.from({ length: 1000 }, (_, i) => buildFrame({ opcode: 1, payload: `m${i}` }));
    const events = decode(Buffer.concat(frames));
    assert.equal(events.length, 1000);
    events.forEach((e, i) => assert.equal(e.type === 'message' && e.data.toString(), `m${i}`));
  });
});

describe('protocol errors', () => {
  const cases: Array<[string, Buffer, number]> = [
    ['RSV1 with no extension', buildFrame({ opcode: 1, payload: 'x', rsv: 4 }), 1002],
    ['RSV2', buildFrame({ opcode: 1, payload: 'x', rsv: 2 }), 1002],
    ['RSV3', buildFrame({ opcode: 2, payload: 'x', rsv: 1 }), 1002],
    ['RSV on a ping', buildFrame({ opcode: 9, rsv: 4 }), 1002],
    ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((op): [string, Buffer, number] => [`reserved opcode ${op}`, buildFrame({ opcode: op }), 1002]),
    ['fragmented ping', buildFrame({ opcode: 9, payload: 'a', fin: false }), 1002],
    ['fragmented close', buildFrame({ opcode: 8, payload: Buffer.from([3, 232]), fin: false }), 1002],
    ['ping of 126 bytes', buildFrame({ opcode: 9, payload: Buffer.alloc(126) }), 1002],
    ['pong announcing 126 bytes in the 16-bit form', buildFrame({ opcode: 10, declaredLength: 126 }), 1002],
    ['continuation with nothing to continue (right after a finished message)', buildFrame({ opcode: 0, payload: 'x' }), 1002],
    ['text inside a fragmented message', Buffer.concat([buildFrame({ opcode: 1, payload: 'a', fin: false }), buildFrame({ opcode: 1, payload: 'b' })]), 1002],
    ['binary inside a fragmented text', Buffer.concat([buildFrame({ opcode: 1, payload: 'a', fin: false }), buildFrame({ opcode: 2, payload: 'b' })]), 1002],
    ['close with a 1-byte payload', buildFrame({ opcode: 8, payload: Buffer.from([3]) }), 1002],
    ['close code 1005', buildFrame({ opcode: 8, payload: Buffer.from([0x03, 0xed]) }), 1002],
    ['close code 999', buildFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe7]) }), 1002],
    ['close code 5000', buildFrame({ opcode: 8, payload: Buffer.from([0x13, 0x88]) }), 1002],
    ['close reason with invalid UTF-8', buildFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0xc0, 0xaf]) }), 1007],
    ['text with invalid UTF-8', buildFrame({ opcode: 1, payload: hex('cebae1bdb9cf83cebcceb5eda080656469746564') }), 1007],
    ['text ending inside a character', buildFrame({ opcode: 1, payload: hex('41e282') }), 1007],
    ['fragmented text ending inside a character', Buffer.concat([buildFrame({ opcode: 1, payload: hex('41e2'), fin: false }), buildFrame({ opcode: 0, payload: hex('82') })]), 1007],
  ];
  for (const [name, bytes, code] of cases) {
    test(`${name} → ${code}, at every split, and nothing after it`, () => {
      // Valid traffic first, garbage after: the message before is delivered, nothing after the error.
      const before = buildFrame({ opcode: 1, payload: 'ok' });
      const afterwards = buildFrame({ opcode: 1, payload: 'never' });
      check(Buffer.concat([before, bytes, afterwards]), [text('ok'), error(code)]);
    });
  }
});

describe('limits', () => {
  const limited = { expectMasked: true, maxMessageSize: 1000 };
  test('a message of exactly the limit is accepted, one byte more fails with 1009', () => {
    assert.deepEqual(show(decode(buildFrame({ opcode: 2, payload: Buffer.alloc(1000) }), [], limited)), [binary(Buffer.alloc(1000))]);
    assert.deepEqual(show(decode(buildFrame({ opcode: 2, payload: Buffer.alloc(1001) }), [], limited)), [error(1009)]);
  });
  test('1009 comes from the header alone, before any payload byte', () => {
    const head = buildFrame({ opcode: 2, declaredLength: 1001 });
    assert.equal(head.length, 2 + 2 + 4);
    assert.deepEqual(show(decode(head, [], limited)), [error(1009)]);
    assert.deepEqual(show(decode(head, byteCuts(head.length), limited)), [error(1009)]);
  });
  test('the limit counts all fragments of a message; the header that passes it fails', () => {
    const frames = [
      buildFrame({ opcode: 1, payload: 'a'.repeat(600), fin: false }),
      buildFrame({ opcode: 9, payload: 'control frames do not count' }),
      buildFrame({ opcode: 0, payload: 'b'.repeat(400), fin: false }),
    ];
    const ok = Buffer.concat([...frames, buildFrame({ opcode: 0, payload: '', fin: true })]);
    assert.deepEqual(show(decode(ok, [], limited)).map((e) => (e as unknown[])[0]), ['ping', 'message']);
    const over = Buffer.concat([...frames, buildFrame({ opcode: 0, declaredLength: 1 })]);
    assert.deepEqual(show(decode(over, [], limited)).map((e) => (e as unknown[])[0] + String((e as unknown[])[1])), ['ping' + Buffer.from('control frames do not count').toString('hex'), 'error1009']);
  });
  test('a huge 64-bit length (2^53 - 1, and 2^63 - 1) is refused without allocating', () => {
    const before = process.memoryUsage().arrayBuffers;
    const a = Buffer.concat([hex('82 ff 00 1f ff ff ff ff ff ff'), KEY]);
    const b = Buffer.concat([hex('82 ff 7f ff ff ff ff ff ff ff'), KEY]);
    assert.deepEqual(show(decode(a, [], SERVER)), [error(1009)]);
    assert.deepEqual(show(decode(b, [], SERVER)), [error(1009)]);
    assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024);
  });
  test('allowRsv1: RSV1 marks the message compressed, only on its first frame', () => {
    const opts = { expectMasked: true, maxMessageSize: 1000, allowRsv1: true };
    const events = decode(Buffer.concat([
      buildFrame({ opcode: 1, payload: hex('ff'), rsv: 4, fin: false }), // not validated: still deflated
      buildFrame({ opcode: 0, payload: hex('fe') }),
    ]), [], opts);
    assert.deepEqual(show(events), [['message', 'text', true, 'fffe']]);
    assert.deepEqual(show(decode(Buffer.concat([
      buildFrame({ opcode: 1, payload: 'a', fin: false }),
      buildFrame({ opcode: 0, payload: 'b', rsv: 4 }),
    ]), [], opts)), [error(1002)]);
    assert.deepEqual(show(decode(buildFrame({ opcode: 9, rsv: 4 }), [], opts)), [error(1002)]);
  });
});

describe('fail-fast UTF-8', () => {
  test('an invalid byte fails the frame before its payload is complete', () => {
    const payload = Buffer.concat([Buffer.from('valid prefix '), hex('ff'), Buffer.alloc(1000, 'z')]);
    const bytes = buildFrame({ opcode: 1, payload });
    const headerLen = bytes.length - payload.length;
    // Only the header and the bytes up to and including 0xFF are pushed.
    const events = decode(bytes.subarray(0, headerLen + 14), [headerLen + 5]);
    assert.deepEqual(show(events), [error(1007)]);
  });
  test('an invalid first fragment fails before the message could end', () => {
    const events = decode(buildFrame({ opcode: 1, payload: hex('41 ed a0 80'), fin: false }));
    assert.deepEqual(show(events), [error(1007)]);
  });
  test('an incomplete but possible sequence at the end of a piece is not an error yet', () => {
    const payload = hex('41 f0 9f 98 80 42');
    const bytes = buildFrame({ opcode: 1, payload });
    const headerLen = bytes.length - payload.length;
    const rec = new Recorder();
    const dec = new FrameDecoder(rec, SERVER);
    const copy = Buffer.from(bytes);
    dec.push(copy.subarray(0, headerLen + 3)); // ends after F0 9F
    assert.deepEqual(rec.events, []);
    dec.push(copy.subarray(headerLen + 3));
    assert.deepEqual(show(rec.events), [text(payload)]);
  });
});

describe('pause and resume', () => {
  test('a paused decoder keeps later frames and delivers them in order on resume', () => {
    const events: Event[] = [];
    const rec = new Recorder();
    let dec: FrameDecoder | null = null;
    const handler = {
      ...rec,
      onMessage(data: Buffer, isBinary: boolean, compressed: boolean) {
        events.push({ type: 'message', data: Buffer.from(data), isBinary, compressed });
        dec!.pause();
      },
      onPing(p: Buffer) { events.push({ type: 'ping', data: Buffer.from(p) }); },
      onPong(p: Buffer) { events.push({ type: 'pong', data: Buffer.from(p) }); },
      onClose(code: number, reason: Buffer) { events.push({ type: 'close', code, reason }); },
      onError(e: { closeCode: number; message: string }) { events.push({ type: 'error', code: e.closeCode, message: e.message }); },
    };
    dec = new FrameDecoder(handler, SERVER);
    dec.push(Buffer.concat([
      buildFrame({ opcode: 1, payload: 'one' }),
      buildFrame({ opcode: 1, payload: 'two' }),
      buildFrame({ opcode: 9, payload: 'p' }),
      buildFrame({ opcode: 1, payload: 'three' }),
    ]));
    assert.equal(events.length, 1);
    assert.ok(pendingBytes(dec) > 0);
    dec.resume();
    assert.equal(events.length, 2);
    dec.resume();
    assert.deepEqual(events.map((e) => e.type === 'message' ? e.data.toString() : e.type), ['one', 'two', 'ping', 'three']);
  });
});
