/**
 * The built /socket.io/socket.io.js (dist/public) run in a bare JavaScript
 * realm with no Buffer, with fetch and WebSocket played by the test: the
 * codecs' portable paths (base64, byte views) are the ones the browser runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import vm from 'node:vm';

const SCRIPT = fs.readFileSync(new URL('../../../dist/public/socket.io.js', import.meta.url), 'utf8');
const HANDSHAKE = (upgrades: string[]) => '0' + JSON.stringify({ sid: 'S', upgrades, pingInterval: 25000, pingTimeout: 20000, maxPayload: 1e6 });

class FakeWebSocket {
  static made: FakeWebSocket[] = [];
  readyState = 1;
  binaryType = 'blob';
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeWebSocket.made.push(this);
  }
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
}

interface Request { url: string; method: string; body: string; answer(body: string): void }

/** A realm with what the script uses of a browser, and no Buffer. */
function browser() {
  const requests: Request[] = [];
  const fetch = (url: string, init: { method?: string; body?: string } = {}) => new Promise((resolve) => {
    requests.push({ url, method: init.method ?? 'GET', body: init.body ?? '', answer: (body) => resolve({ ok: true, status: 200, text: async () => body }) });
  });
  const context = vm.createContext({
    location: { href: 'http://example.test/chat.html', origin: 'http://example.test' },
    URL, URLSearchParams, AbortController, atob, btoa, fetch, WebSocket: FakeWebSocket,
    // The client's timers (heartbeat, reconnection) must not keep the test process alive.
    setTimeout: (fn: () => void, ms?: number) => setTimeout(fn, ms).unref(), clearTimeout,
  });
  vm.runInContext(SCRIPT, context);
  const run = (code: string): any => vm.runInContext(code, context);
  /** A value of the realm as one of this realm (for deepEqual). */
  const json = (code: string): unknown => JSON.parse(run(`JSON.stringify(${code})`));
  return { run, json, requests };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
const bytes = (value: any): number[] => [...new Uint8Array(value.buffer ?? value, value.byteOffset ?? 0, value.byteLength)];

test('the script defines io as socket.io-client does, and has no Buffer to lean on', () => {
  const { run } = browser();
  assert.equal(run('typeof Buffer'), 'undefined');
  assert.equal(run('typeof io'), 'function');
  assert.equal(run('io.protocol'), 5);
  assert.equal(run('io.connect === io && typeof io.Manager === "function" && typeof io.Socket === "function"'), true);
});

test('over WebSocket: CONNECT, pings, acks, and binary both ways as ArrayBuffers and views', async () => {
  FakeWebSocket.made = [];
  const { run, json } = browser();
  run(`var got = []; var s = io({ transports: ['websocket'], auth: { token: 'abc' } });
       s.on('file', (name, data) => got.push([name, data])); s.on('ask', (q, ack) => ack(q + '!'));`);
  const ws = FakeWebSocket.made[0]!;
  assert.equal(ws.url, 'ws://example.test/socket.io/?EIO=4&transport=websocket');
  assert.equal(ws.binaryType, 'arraybuffer');
  ws.onmessage!({ data: HANDSHAKE([]) });
  assert.deepEqual(ws.sent, ['40{"token":"abc"}']);
  ws.onmessage!({ data: '40{"sid":"A","pid":"P"}' });
  assert.equal(run('s.connected && s.id'), 'A');
  ws.onmessage!({ data: '2' });
  assert.equal(ws.sent.at(-1), '3');

  ws.onmessage!({ data: '451-["file","a.bin",{"_placeholder":true,"num":0}]' });
  ws.onmessage!({ data: run('new Uint8Array([1, 2, 255]).buffer') });
  assert.equal(run('got.length === 1 && got[0][1] instanceof ArrayBuffer'), true);
  assert.deepEqual(json('Array.from(new Uint8Array(got[0][1]))'), [1, 2, 255]);

  ws.onmessage!({ data: '427["ask","why"]' });
  assert.equal(ws.sent.at(-1), '437["why!"]');

  ws.sent = [];
  run(`s.emit('up', new Uint8Array([9, 5, 6, 9]).subarray(1, 3), () => {})`);
  assert.equal(ws.sent[0], '451-0["up",{"_placeholder":true,"num":0}]');
  assert.deepEqual(bytes(ws.sent[1]), [5, 6]);
  const answer = run(`s.emitWithAck('q', 1)`) as Promise<unknown>;
  assert.equal(ws.sent.at(-1), '421["q",1]');
  ws.onmessage!({ data: '431["yes"]' });
  assert.equal(await answer, 'yes');
  // A packet the codec refuses closes the connection.
  ws.onmessage!({ data: '42{"not":"an array"}' });
  assert.equal(run('s.connected'), false);
  run('s.io.close()');
});

test('over long-polling: batches in a POST, base64 attachments both ways, without Buffer', async () => {
  const { run, json, requests } = browser();
  run(`var got = []; var s = io('/admin', { transports: ['polling'] }); s.on('file', (data) => got.push(data));`);
  const next = async (method: string): Promise<Request> => {
    await flush();
    const i = requests.findIndex((r) => r.method === method);
    assert.ok(i >= 0, `a ${method} is made`);
    return requests.splice(i, 1)[0]!;
  };
  const open = await next('GET');
  assert.match(open.url, /^http:\/\/example\.test\/socket\.io\/\?EIO=4&transport=polling&t=/);
  open.answer(HANDSHAKE([]));
  const connect = await next('POST');
  assert.match(connect.url, /&sid=S&/);
  assert.equal(connect.body, '40/admin,{}');
  connect.answer('ok');
  const poll = await next('GET');
  poll.answer('40/admin,{"sid":"B"}\x1e451-/admin,["file",{"_placeholder":true,"num":0}]\x1ebAQID\x1e2');
  const pong = await next('POST');
  assert.equal(pong.body, '3');
  assert.equal(run('s.id'), 'B');
  assert.equal(run('got[0] instanceof ArrayBuffer'), true);
  assert.deepEqual(json('Array.from(new Uint8Array(got[0]))'), [1, 2, 3]);

  run(`s.emit('up', 'x', new Uint8Array([5, 6]).buffer); s.emit('again')`);
  pong.answer('ok');
  const post = await next('POST');
  assert.equal(post.body, '451-/admin,["up","x",{"_placeholder":true,"num":0}]\x1ebBQY=\x1e42/admin,["again"]');
  post.answer('ok');
  // A bad packet spoils the body: the session closes, nothing in it is acted on.
  (await next('GET')).answer('42/admin,["file",1]\x1e9');
  await flush();
  assert.equal(run('got.length'), 1);
  assert.equal(run('s.connected'), false);
  run('s.io.close()');
});
