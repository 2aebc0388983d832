/**
 * Sec-WebSocket-Extensions parsing and permessage-deflate negotiation
 * (RFC 6455 §9.1, RFC 7692 §5, §7.1): the pure functions case by case, then
 * the real server's 101 answers over TCP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatExtensions, parseExtensions } from '../../src/protocol/extension-header.js';
import { acceptAsClient, clientOffer, negotiateAsServer, type DeflateOptions } from '../../src/protocol/deflate-params.js';
import { RawClient, startEchoServer, type EchoServer } from './helpers.js';

describe('Sec-WebSocket-Extensions parser', () => {
  test('one extension, no parameters', () => {
    assert.deepEqual(parseExtensions('permessage-deflate'), [{ name: 'permessage-deflate', params: [] }]);
  });
  test('parameters with and without values, any white space', () => {
    assert.deepEqual(parseExtensions('permessage-deflate ;client_max_window_bits; server_max_window_bits = 10 ;\tserver_no_context_takeover'), [{
      name: 'permessage-deflate',
      params: [
        { name: 'client_max_window_bits', value: null },
        { name: 'server_max_window_bits', value: '10' },
        { name: 'server_no_context_takeover', value: null },
      ],
    }]);
  });
  test('several offers, in order, duplicates kept', () => {
    const list = parseExtensions('permessage-deflate; client_max_window_bits=9, x-webkit-deflate-frame, permessage-deflate, permessage-deflate; server_max_window_bits=8; server_max_window_bits=9');
    assert.deepEqual(list.map((e) => e.name), ['permessage-deflate', 'x-webkit-deflate-frame', 'permessage-deflate', 'permessage-deflate']);
    assert.deepEqual(list[3]!.params.map((p) => p.value), ['8', '9']);
  });
  test('quoted values are unquoted (and escapes resolved)', () => {
    const [ext] = parseExtensions('permessage-deflate; client_max_window_bits="10"; server_max_window_bits="1\\2"');
    assert.deepEqual(ext!.params, [{ name: 'client_max_window_bits', value: '10' }, { name: 'server_max_window_bits', value: '12' }]);
  });
  test('names are case-insensitive, values kept as sent', () => {
    assert.deepEqual(parseExtensions('PerMessage-Deflate; Client_Max_Window_Bits=Ab'), [{ name: 'permessage-deflate', params: [{ name: 'client_max_window_bits', value: 'Ab' }] }]);
  });
  test('empty list elements are skipped', () => {
    assert.deepEqual(parseExtensions(' , permessage-deflate ,, ').map((e) => e.name), ['permessage-deflate']);
    assert.deepEqual(parseExtensions(''), []);
  });
  for (const bad of [
    'permessage-deflate; client_max_window_bits="1 0"', // quoted value that is not a token
    'permessage-deflate; =10',
    'permessage-deflate; a=',
    'permessage-deflate; a="10',
    'permessage-deflate x',
    'perm@ssage',
    'permessage-deflate;',
    '; a',
    'a; b=c d',
  ]) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseExtensions(bad), SyntaxError);
    });
  }
  test('format writes what parse reads, quoting non-tokens', () => {
    const list = [{ name: 'permessage-deflate', params: [{ name: 'server_no_context_takeover', value: null }, { name: 'client_max_window_bits', value: '10' }] },
      { name: 'x', params: [{ name: 'y', value: 'a b' }] }];
    const text = formatExtensions(list);
    assert.equal(text, 'permessage-deflate; server_no_context_takeover; client_max_window_bits=10, x; y="a b"');
    assert.deepEqual(parseExtensions(text.replace('"a b"', 'ab')), [list[0], { name: 'x', params: [{ name: 'y', value: 'ab' }] }]);
  });
});

/** negotiateAsServer on a header, returning the answer as text ('' when declined). */
function answer(header: string, options: DeflateOptions = {}): string {
  const agreement = negotiateAsServer(parseExtensions(header), options);
  return agreement === null ? '' : formatExtensions([agreement.answer]);
}

describe('server negotiation (RFC 7692 §7.1)', () => {
  test('plain offer: accepted with no parameters', () => {
    assert.equal(answer('permessage-deflate'), 'permessage-deflate');
  });
  test('Chromium\'s offer: client_max_window_bits with no value needs no answer', () => {
    assert.equal(answer('permessage-deflate; client_max_window_bits'), 'permessage-deflate');
    const a = negotiateAsServer(parseExtensions('permessage-deflate; client_max_window_bits'))!;
    assert.deepEqual(a.params, { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 });
  });
  test('server_no_context_takeover asked: must be answered', () => {
    assert.equal(answer('permessage-deflate; server_no_context_takeover'), 'permessage-deflate; server_no_context_takeover');
  });
  test('server_no_context_takeover by server policy, unasked', () => {
    assert.equal(answer('permessage-deflate', { serverNoContextTakeover: true }), 'permessage-deflate; server_no_context_takeover');
  });
  test('client_no_context_takeover: the client\'s hint is echoed; the server may also demand it', () => {
    assert.equal(answer('permessage-deflate; client_no_context_takeover'), 'permessage-deflate; client_no_context_takeover');
    assert.equal(answer('permessage-deflate', { clientNoContextTakeover: true }), 'permessage-deflate; client_no_context_takeover');
  });
  for (let bits = 8; bits <= 15; bits++) {
    test(`server_max_window_bits=${bits} asked: answered with the same value`, () => {
      assert.equal(answer(`permessage-deflate; server_max_window_bits=${bits}`), `permessage-deflate; server_max_window_bits=${bits}`);
    });
  }
  test('server_max_window_bits: the smaller of the asked value and the server\'s own limit', () => {
    assert.equal(answer('permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 10 }), 'permessage-deflate; server_max_window_bits=10');
    assert.equal(answer('permessage-deflate; server_max_window_bits=9', { serverMaxWindowBits: 10 }), 'permessage-deflate; server_max_window_bits=9');
    assert.equal(answer('permessage-deflate', { serverMaxWindowBits: 11 }), 'permessage-deflate; server_max_window_bits=11');
  });
  test('client_max_window_bits with a value: answered with at most that value', () => {
    assert.equal(answer('permessage-deflate; client_max_window_bits=10'), 'permessage-deflate; client_max_window_bits=10');
    assert.equal(answer('permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: 9 }), 'permessage-deflate; client_max_window_bits=9');
    assert.equal(answer('permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 9 }), 'permessage-deflate; client_max_window_bits=9');
  });
  test('client_max_window_bits not offered: never answered (the server inflates with 15)', () => {
    const a = negotiateAsServer(parseExtensions('permessage-deflate'), { clientMaxWindowBits: 9 })!;
    assert.equal(formatExtensions([a.answer]), 'permessage-deflate');
    assert.equal(a.params.clientMaxWindowBits, 15);
  });
  test('every parameter at once', () => {
    const a = negotiateAsServer(parseExtensions('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11'))!;
    assert.equal(formatExtensions([a.answer]), 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11');
    assert.deepEqual(a.params, { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 });
  });
  test('quoted values count as the plain ones', () => {
    assert.equal(answer('permessage-deflate; server_max_window_bits="9"'), 'permessage-deflate; server_max_window_bits=9');
  });
  for (const [offer, why] of [
    ['permessage-deflate; foo', 'unknown parameter'],
    ['permessage-deflate; server_max_window_bits=7', 'below 8'],
    ['permessage-deflate; server_max_window_bits=16', 'above 15'],
    ['permessage-deflate; server_max_window_bits=010', 'leading zero'],
    ['permessage-deflate; server_max_window_bits', 'no value'],
    ['permessage-deflate; client_max_window_bits=abc', 'not a number'],
    ['permessage-deflate; client_max_window_bits=7', 'client bits below 8'],
    ['permessage-deflate; server_no_context_takeover=1', 'value on a flag'],
    ['permessage-deflate; client_no_context_takeover; client_no_context_takeover', 'duplicate'],
    ['permessage-deflate; server_max_window_bits=10; server_max_window_bits=10', 'duplicate with a value'],
  ] as const) {
    test(`declines an offer with ${why}: ${offer}`, () => {
      assert.equal(answer(offer), '');
      // ...and takes the next acceptable offer instead.
      const a = negotiateAsServer(parseExtensions(`${offer}, permessage-deflate; client_max_window_bits=12`))!;
      assert.equal(formatExtensions([a.answer]), 'permessage-deflate; client_max_window_bits=12');
      assert.equal(a.declined.length, 1);
    });
  }
  test('several offers: the first acceptable one wins (Autobahn 13.7 style)', () => {
    assert.equal(answer('permessage-deflate; client_no_context_takeover; client_max_window_bits=9, permessage-deflate; client_no_context_takeover, permessage-deflate'),
      'permessage-deflate; client_no_context_takeover; client_max_window_bits=9');
  });
  test('other extensions are ignored; none acceptable: declined', () => {
    assert.equal(answer('x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=10'), 'permessage-deflate; server_max_window_bits=10');
    assert.equal(answer('x-webkit-deflate-frame'), '');
  });
  test('bad server options fail when used', () => {
    assert.throws(() => negotiateAsServer([], { serverMaxWindowBits: 16 }), RangeError);
  });
});

describe('client side: offer and validation of the answer (RFC 7692 §5.2, §7.1)', () => {
  const parse = (s: string) => parseExtensions(s);
  test('default offer is Chromium\'s', () => {
    assert.equal(formatExtensions([clientOffer()]), 'permessage-deflate; client_max_window_bits');
  });
  test('offer with every option', () => {
    assert.equal(formatExtensions([clientOffer({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 })]),
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9');
  });
  test('accepts the answers a server may give', () => {
    assert.deepEqual(acceptAsClient(parse('permessage-deflate')), { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 });
    assert.deepEqual(acceptAsClient(parse('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8')),
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 8 });
    assert.equal(acceptAsClient(parse('permessage-deflate; server_max_window_bits=9'), { serverMaxWindowBits: 10 }).serverMaxWindowBits, 9);
    assert.equal(acceptAsClient(parse('permessage-deflate'), { clientMaxWindowBits: 10 }).clientMaxWindowBits, 10);
  });
  for (const [answerText, options, why] of [
    ['permessage-deflate, permessage-deflate', {}, 'two answers'],
    ['x-other', {}, 'an extension not offered'],
    ['permessage-deflate; foo', {}, 'an unknown parameter'],
    ['permessage-deflate; client_max_window_bits', {}, 'client_max_window_bits with no value'],
    ['permessage-deflate; server_max_window_bits=16', {}, 'an invalid window'],
    ['permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 10 }, 'a server window above the one asked'],
    ['permessage-deflate', { serverMaxWindowBits: 10 }, 'server_max_window_bits asked but not answered'],
    ['permessage-deflate', { serverNoContextTakeover: true }, 'server_no_context_takeover asked but not answered'],
    ['permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 }, 'a client window above the one offered'],
    ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', {}, 'a duplicate'],
  ] as const) {
    test(`fails on ${why}`, () => {
      assert.throws(() => acceptAsClient(parse(answerText), options as DeflateOptions), Error);
    });
  }
});

describe('the server\'s 101 answer over TCP', () => {
  let on: EchoServer;
  let off: EchoServer;
  let limited: EchoServer;
  before(async () => {
    on = await startEchoServer({ perMessageDeflate: true });
    off = await startEchoServer();
    limited = await startEchoServer({ perMessageDeflate: { serverMaxWindowBits: 10, clientMaxWindowBits: 9, serverNoContextTakeover: true } });
  });
  after(async () => { await on.close(); await off.close(); await limited.close(); });

  const cases: Array<[() => EchoServer, string | undefined, string | undefined]> = [
    [() => on, 'permessage-deflate; client_max_window_bits', 'permessage-deflate'],
    [() => on, 'permessage-deflate; server_max_window_bits=8; client_no_context_takeover', 'permessage-deflate; client_no_context_takeover; server_max_window_bits=8'],
    [() => on, 'permessage-deflate; bogus, permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover'],
    [() => on, 'permessage-deflate; server_max_window_bits=99', undefined],
    [() => on, 'x-webkit-deflate-frame', undefined],
    [() => on, undefined, undefined],
    [() => off, 'permessage-deflate; client_max_window_bits', undefined],
    [() => limited, 'permessage-deflate; client_max_window_bits', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9'],
    [() => limited, 'permessage-deflate', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=10'],
  ];
  for (const [server, offer, expected] of cases) {
    test(`offer ${JSON.stringify(offer)} → ${JSON.stringify(expected)}`, async () => {
      const c = await RawClient.connect(server().port, offer);
      try {
        assert.equal(c.status, 101);
        assert.equal(c.headers['sec-websocket-extensions'], expected);
      } finally {
        c.destroy();
      }
    });
  }
  test('a header that does not parse: 400 with a JSON error, no upgrade', async () => {
    const c = await RawClient.connect(on.port, 'permessage-deflate; x="unterminated');
    try {
      assert.equal(c.status, 400);
      assert.match(c.headers['content-type'] ?? '', /application\/json/);
    } finally {
      c.destroy();
    }
  });
});
