/**
 * Browser-style WebSocket code (onopen/onmessage/onclose/onerror,
 * addEventListener/removeEventListener, event objects) runs unchanged against
 * pushwire's client objects (connect()) and server objects ('connection'),
 * over real sockets. Where Node has a WebSocket of its own (22 and later), the
 * same browser-style programs run against it too, to show they are plain
 * browser code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../src/websocket/server.js';
import { connect } from '../../src/websocket/client.js';
import { WebSocket } from '../../src/websocket/websocket.js';
import { CloseEvent, ErrorEvent, MessageEvent } from '../../src/websocket/event-target.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { OP, RawClient } from './raw-client.js';
import { attachWebSocketServer, type AttachedServer } from './attached-server.js';

/** The part of the browser's WebSocket these programs use. */
interface BrowserEvent { type: string; target: unknown }
interface BrowserSocket {
  readonly readyState: number;
  readonly OPEN: number;
  binaryType: string;
  onopen: ((e: BrowserEvent) => void) | null;
  // `any`, as the DOM's MessageEvent<any> has it.
  onmessage: ((e: BrowserEvent & { data: any }) => void) | null;
  onclose: ((e: BrowserEvent & { code: number; reason: string; wasClean: boolean }) => void) | null;
  // An Event in the DOM, an ErrorEvent in ws and here: `any` lets both in.
  onerror: ((e: any) => void) | null;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

/** Browser code: says hello in text and binary, closes after both echoes. */
function echoProgram(ws: BrowserSocket): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const log: string[] = [];
    ws.binaryType = 'arraybuffer';
    ws.onopen = (e) => {
      log.push(`open ${e.type} ${e.target === ws} ${ws.readyState === ws.OPEN}`);
      ws.send('hello');
      ws.send(new Uint8Array([1, 2, 3]));
    };
    ws.onmessage = (e) => {
      const data = e.data;
      if (typeof data === 'string') log.push(`text ${data}`);
      else log.push(`binary ${data instanceof ArrayBuffer} ${[...new Uint8Array(data as ArrayBuffer)].join(',')}`);
      if (log.length === 3) ws.close(1000, 'done');
    };
    ws.onerror = () => reject(new Error('unexpected error event'));
    ws.onclose = (e) => {
      log.push(`close ${e.type} ${e.code} ${e.wasClean}`);
      resolve(log);
    };
  });
}

/** Browser code: reports how the server ended the connection. */
function closeProgram(ws: BrowserSocket): Promise<string> {
  return new Promise((resolve) => {
    ws.onopen = () => ws.send('please close');
    ws.onclose = (e) => resolve(`${e.code} ${JSON.stringify(e.reason)} ${e.wasClean}`);
  });
}

/** Node's own WebSocket (undici, Node 22+), if this Node has one. */
const NativeWebSocket = (globalThis as { WebSocket?: new (url: string) => BrowserSocket }).WebSocket;

describe('browser-style code against pushwire WebSockets', () => {
  let server: AttachedServer;
  let port: number;
  /** What the server-side objects saw, by path, written with the browser API only. */
  const serverLog = new Map<string, string[]>();
  let serverClosed: (() => void) | null = null;

  before(async () => {
    server = await attachWebSocketServer({ verifyClient: (req) => req.url !== '/refuse' });
    port = server.port;
    server.wss.on('connection', (ws, req) => {
      const path = req.url!;
      const log: string[] = [];
      serverLog.set(path, log);
      ws.binaryType = 'arraybuffer';
      ws.onmessage = (e) => {
        log.push(typeof e.data === 'string' ? `text ${e.data}` : `binary ${e.data instanceof ArrayBuffer}`);
        if (path === '/echo') ws.send(e.data as string | ArrayBuffer);
        else if (path === '/close') ws.close(4000, 'bye');
        else if (path === '/terminate') ws.terminate();
      };
      ws.onerror = (e) => log.push(`error ${e.type} ${e instanceof ErrorEvent} ${e.error instanceof ProtocolError} ${e.message}`);
      ws.addEventListener('close', (e) => {
        log.push(`close ${e.code} ${JSON.stringify(e.reason)} ${e.wasClean} ${e.target === ws}`);
        serverClosed?.();
      });
    });
  });
  after(() => server.close());

  const serverDone = () => new Promise<void>((resolve) => { serverClosed = resolve; });

  test('echo: onopen, onmessage (text and ArrayBuffer), onclose — on both ends', async () => {
    const closed = serverDone();
    const log = await echoProgram(connect(`ws://127.0.0.1:${port}/echo`));
    assert.deepEqual(log, ['open open true true', 'text hello', 'binary true 1,2,3', 'close close 1000 true']);
    await closed;
    assert.deepEqual(serverLog.get('/echo'), ['text hello', 'binary true', 'close 1000 "done" true true']);
  });

  test('the server closes with a code and reason: CloseEvent carries them, wasClean', async () => {
    assert.equal(await closeProgram(connect(`ws://127.0.0.1:${port}/close`)), '4000 "bye" true');
  });

  test('the server drops TCP: code 1006, not clean', async () => {
    assert.equal(await closeProgram(connect(`ws://127.0.0.1:${port}/terminate`)), '1006 "" false');
  });

  test('the same programs run unchanged against Node\'s own WebSocket', { skip: NativeWebSocket ? false : 'this Node has no global WebSocket' }, async () => {
    const log = await echoProgram(new NativeWebSocket!(`ws://127.0.0.1:${port}/echo`));
    assert.deepEqual(log, ['open open true true', 'text hello', 'binary true 1,2,3', 'close close 1000 true']);
    assert.equal(await closeProgram(new NativeWebSocket!(`ws://127.0.0.1:${port}/close`)), '4000 "bye" true');
  });

  test('a refused handshake: onerror with an ErrorEvent, then onclose 1006', async () => {
    const ws = connect(`ws://127.0.0.1:${port}/refuse`);
    const events: string[] = [];
    await new Promise<void>((resolve) => {
      ws.onerror = (e) => events.push(`error ${e instanceof ErrorEvent} ${e.error instanceof Error} ${e.message}`);
      ws.onclose = (e) => {
        events.push(`close ${e.code} ${e.wasClean}`);
        resolve();
      };
    });
    assert.deepEqual(events, ['error true true unexpected server response: 403', 'close 1006 false']);
  });

  test('a protocol error on the server side: onerror with the ProtocolError, then onclose 1007', async () => {
    const closed = serverDone();
    const c = await RawClient.connect(port, '/bad-utf8');
    await c.send({ opcode: OP.text, payload: Buffer.from([0xc3, 0x28]) });
    await c.expectClose(1007);
    await closed;
    const log = serverLog.get('/bad-utf8')!;
    assert.equal(log.length, 2, log.join('\n'));
    assert.match(log[0]!, /^error error true true .*UTF-8/);
    assert.match(log[1]!, /^close 1007 /);
  });

  test('binaryType: nodebuffer by default, arraybuffer and blob on request; others ignored', async () => {
    const ws = connect(`ws://127.0.0.1:${port}/echo`);
    assert.equal(ws.binaryType, 'nodebuffer');
    await once(ws, 'open');
    const next = () => new Promise<MessageEvent>((resolve) => ws.addEventListener('message', resolve, { once: true }));
    const bytes = new Uint8Array([7, 8, 9]);
    let pending = next();
    ws.send(bytes);
    let e = await pending;
    assert.ok(e instanceof MessageEvent);
    assert.ok(Buffer.isBuffer(e.data));
    assert.deepEqual([...(e.data as Buffer)], [7, 8, 9]);
    ws.binaryType = 'blob';
    pending = next();
    ws.send(bytes);
    e = await pending;
    assert.ok(e.data instanceof Blob);
    assert.deepEqual([...new Uint8Array(await (e.data as Blob).arrayBuffer())], [7, 8, 9]);
    ws.binaryType = 'fragments' as never;
    assert.equal(ws.binaryType, 'blob');
    ws.binaryType = 'arraybuffer';
    pending = next();
    ws.send(bytes);
    e = await pending;
    assert.ok(e.data instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(e.data as ArrayBuffer)], [7, 8, 9]);
    // Text is always a string.
    pending = next();
    ws.send('text');
    assert.equal((await pending).data, 'text');
    ws.close();
    await once(ws, 'close');
  });
});

describe('listener bookkeeping, as ws and the browser do it', () => {
  let wss: WebSocketServer;
  let port: number;
  before(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    port = (wss.address() as AddressInfo).port;
    wss.on('connection', (ws) => { ws.onmessage = (e) => ws.send(e.data as string); });
  });
  after(async () => {
    await new Promise<void>((r) => wss.close(() => r()));
  });

  /** An open client, and a function that sends a text and waits for its echo (after every listener ran). */
  async function client(): Promise<{ ws: WebSocket; roundTrip(text: string): Promise<void> }> {
    const ws = connect(`ws://127.0.0.1:${port}/`);
    await once(ws, 'open');
    return {
      ws,
      roundTrip: (text) => new Promise<void>((resolve) => {
        const sentinel = (data: Buffer) => {
          if (data.toString() !== text) return;
          ws.off('message', sentinel);
          resolve();
        };
        ws.on('message', sentinel); // registered last: it runs after the listeners under test
        ws.send(text);
      }),
    };
  }

  test('{ once: true } calls a listener once; the same listener added twice is called once', async () => {
    const { ws, roundTrip } = await client();
    const seen: string[] = [];
    const onlyOnce = (e: MessageEvent) => seen.push(`once ${e.data as string}`);
    const twice = (e: MessageEvent) => seen.push(`twice ${e.data as string}`);
    ws.addEventListener('message', onlyOnce, { once: true });
    ws.addEventListener('message', twice);
    ws.addEventListener('message', twice);
    await roundTrip('a');
    await roundTrip('b');
    assert.deepEqual(seen, ['once a', 'twice a', 'twice b']);
    ws.close();
    await once(ws, 'close');
  });

  test('removeEventListener removes; it leaves the onX listener alone, and onX = null leaves addEventListener ones', async () => {
    const { ws, roundTrip } = await client();
    const seen: string[] = [];
    const added = () => seen.push('added');
    const property = () => seen.push('property');
    ws.onmessage = property;
    ws.addEventListener('message', added);
    assert.equal(ws.onmessage, property);
    ws.removeEventListener('message', property); // not added with addEventListener: no effect
    await roundTrip('1');
    assert.deepEqual(seen.splice(0), ['property', 'added']);
    ws.removeEventListener('message', added);
    await roundTrip('2');
    assert.deepEqual(seen.splice(0), ['property']);
    ws.addEventListener('message', added);
    ws.onmessage = null;
    assert.equal(ws.onmessage, null);
    await roundTrip('3');
    assert.deepEqual(seen.splice(0), ['added']);
    ws.close();
    await once(ws, 'close');
  });

  test('onX = fn replaces only the listener set through the property', async () => {
    const { ws, roundTrip } = await client();
    const seen: string[] = [];
    const first = () => seen.push('first');
    ws.addEventListener('message', first);
    ws.onmessage = () => seen.push('p1');
    ws.onmessage = () => seen.push('p2');
    await roundTrip('x');
    assert.deepEqual(seen, ['first', 'p2']);
    assert.equal(ws.listenerCount('message'), 2); // first and p2
    ws.close();
    await once(ws, 'close');
  });

  test('listener objects with handleEvent; this is the WebSocket for functions', async () => {
    const { ws, roundTrip } = await client();
    const seen: unknown[] = [];
    const handler = { handleEvent(e: MessageEvent) { seen.push(['object', this === handler, e.data]); } };
    ws.addEventListener('message', handler);
    ws.addEventListener('message', function (this: unknown, e) { seen.push(['function', this === ws, e.target === ws]); });
    await roundTrip('h');
    assert.deepEqual(seen, [['object', true, 'h'], ['function', true, true]]);
    ws.removeEventListener('message', handler);
    ws.close();
    await once(ws, 'close');
  });

  test('only open, message, close and error are browser events; others are ignored', async () => {
    const { ws } = await client();
    // @ts-expect-error 'ping' is not an event of the browser's WebSocket
    ws.addEventListener('ping', () => {});
    assert.equal(ws.listenerCount('ping'), 0);
    ws.close();
    const [event] = await new Promise<[CloseEvent]>((resolve) => ws.addEventListener('close', (e) => resolve([e])));
    assert.ok(event instanceof CloseEvent);
    assert.equal(event.code, 1005);
  });

  test('the ready-state constants are on instances too', async () => {
    const ws = connect(`ws://127.0.0.1:${port}/`);
    assert.deepEqual([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED], [0, 1, 2, 3]);
    assert.equal(ws.readyState, ws.CONNECTING);
    assert.equal(ws.url, `ws://127.0.0.1:${port}/`);
    await once(ws, 'open');
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close();
    assert.equal(ws.readyState, ws.CLOSING);
    await once(ws, 'close');
    assert.equal(ws.readyState, ws.CLOSED);
  });
});
