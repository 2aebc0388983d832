/**
 * The client while it connects, as in ws: close() or terminate() abandons the
 * opening handshake — readyState is CLOSING at once, then on the next tick
 * 'error' ("WebSocket was closed before the connection was established") and
 * 'close' with 1006. Each scenario runs against ws's client too, and the two
 * event sequences must match.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket as WsClient } from 'ws';
import { connect } from '../../src/websocket/client.js';
import { WebSocket } from '../../src/websocket/websocket.js';
import { CloseEvent, ErrorEvent } from '../../src/websocket/event-target.js';
import { attachWebSocketServer, type AttachedServer } from './attached-server.js';

/** ws's client and ours, seen through the node events both have. */
type AnyClient = {
  readonly readyState: number;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  on(event: 'open', listener: () => void): unknown;
  close(): void;
  terminate(): void;
};

/** Records the events until 'close'. */
function record(ws: AnyClient): { events: string[]; closed: Promise<void> } {
  const events: string[] = [];
  ws.on('open', () => events.push('open'));
  ws.on('error', (err) => events.push(`error: ${err.message}`));
  const closed = new Promise<void>((resolve) => ws.on('close', (code, reason) => {
    events.push(`close ${code} ${JSON.stringify(reason.toString())}`);
    resolve();
  }));
  return { events, closed };
}

describe('close() and terminate() while connecting', () => {
  let server: AttachedServer;
  let port: number;
  /** verifyClient holds '/held' requests until released; this resolves when one arrives. */
  let arrived: (() => void) | null = null;
  const held: Array<(verdict: boolean) => void> = [];

  before(async () => {
    server = await attachWebSocketServer({
      verifyClient: (req) => {
        if (req.url !== '/held') return true;
        return new Promise<boolean>((resolve) => {
          held.push(resolve);
          arrived?.();
        });
      },
    });
    port = server.port;
    server.wss.on('connection', (ws) => ws.send('hi'));
  });
  after(() => server.close());

  for (const method of ['close', 'terminate'] as const) {
    test(`${method}() right after connecting: CLOSING at once, then 'error' and 'close' 1006 on a later tick, as ws`, { timeout: 10_000 }, async () => {
      const sequences: string[][] = [];
      for (const make of [() => connect(`ws://127.0.0.1:${port}/now`), () => new WsClient(`ws://127.0.0.1:${port}/now`)]) {
        const ws = make() as unknown as AnyClient;
        const { events, closed } = record(ws);
        assert.equal(ws.readyState, WebSocket.CONNECTING);
        ws[method]();
        assert.equal(ws.readyState, WebSocket.CLOSING);
        assert.deepEqual(events, [], 'nothing is emitted synchronously');
        await closed;
        assert.equal(ws.readyState, WebSocket.CLOSED);
        sequences.push(events);
      }
      const [ours, theirs] = sequences;
      assert.deepEqual(ours, ['error: WebSocket was closed before the connection was established', 'close 1006 ""']);
      assert.deepEqual(ours, theirs);
    });
  }

  test('close() while the server is still deciding: the same events; the server\'s late accept closes at once', { timeout: 10_000 }, async () => {
    const sequences: string[][] = [];
    for (const make of [() => connect(`ws://127.0.0.1:${port}/held`), () => new WsClient(`ws://127.0.0.1:${port}/held`)]) {
      const request = new Promise<void>((resolve) => { arrived = resolve; });
      const ws = make() as unknown as AnyClient;
      const { events, closed } = record(ws);
      await request; // the server has the request and holds it in verifyClient
      ws.close();
      await closed;
      sequences.push(events);
      // The server accepts a client that is gone (it cannot know before it reads the socket again):
      // that connection ends by itself, 1006.
      const serverSide = new Promise<number>((resolve) => server.wss.once('connection', (conn) => conn.on('close', resolve)));
      held.shift()!(true);
      assert.equal(await serverSide, 1006);
    }
    assert.deepEqual(sequences[0], ['error: WebSocket was closed before the connection was established', 'close 1006 ""']);
    assert.deepEqual(sequences[0], sequences[1]);
  });

  test('without an error listener, close() while connecting still just closes (no throw)', async () => {
    const ws = connect(`ws://127.0.0.1:${port}/now`);
    ws.close();
    // (events.once would listen to 'error' too.)
    const code = await new Promise<number>((resolve) => ws.on('close', resolve));
    assert.equal(code, 1006);
    assert.equal(ws.listenerCount('error'), 0);
  });

  test('browser style: onerror gets an ErrorEvent, onclose a CloseEvent 1006, not clean', async () => {
    const ws = connect(`ws://127.0.0.1:${port}/now`);
    const seen: string[] = [];
    const closed = new Promise<void>((resolve) => {
      ws.onerror = (e) => seen.push(`${e instanceof ErrorEvent} ${e.message}`);
      ws.onclose = (e) => {
        seen.push(`${e instanceof CloseEvent} ${e.code} ${e.wasClean}`);
        resolve();
      };
    });
    ws.close();
    await closed;
    assert.deepEqual(seen, ['true WebSocket was closed before the connection was established', 'true 1006 false']);
  });

  test('after the close, send() fails through its callback and nothing more is emitted', async () => {
    const ws = connect(`ws://127.0.0.1:${port}/now`);
    const { events, closed } = record(ws as unknown as AnyClient);
    ws.close();
    ws.close();
    ws.terminate();
    await closed;
    const err = await new Promise<Error | null | undefined>((resolve) => ws.send('late', resolve));
    assert.match(String(err?.message), /not open/);
    assert.deepEqual(events, ['error: WebSocket was closed before the connection was established', 'close 1006 ""']);
  });
});

describe('connect() options', () => {
  test('subprotocols must be unique tokens: a SyntaxError before anything is sent, as in ws', () => {
    for (const protocols of [['a b'], ['chat', 'chat'], [''], ['a,b'], ['x;y']]) {
      assert.throws(() => connect('ws://127.0.0.1:9/', { protocols }), SyntaxError, JSON.stringify(protocols));
      assert.throws(() => new WsClient('ws://127.0.0.1:9/', protocols), SyntaxError, `ws: ${JSON.stringify(protocols)}`);
    }
  });
});
