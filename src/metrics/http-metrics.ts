import diagnosticsChannel from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LimitReason } from '../http/connection-limits.js';
import type { WebSocketCloseMessage, WebSocketOpenMessage } from '../websocket/diagnostics.js';
import type { Counter, CounterChild, MetricsRegistry } from './registry.js';

/** Status classes of answered requests; index 0 is a request closed before any answer. */
const STATUS_CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * The close codes that get a series of their own (docs/PROTOCOL.md §6.2): the
 * ones RFC 6455 §7.4.1 and the IANA registry define. Any other code a peer
 * picks (3000–4999 among them) is counted under `other`, so that a client
 * cannot add a series per code.
 */
const REGISTERED_CLOSE_CODES: ReadonlySet<number> = new Set([
  1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015,
]);

/** The server that accepted each socket, for the WebSocket layer's diagnostics (which know only the socket). */
const owners = new WeakMap<Duplex, HttpMetrics>();
let subscribed = false;

function onWebSocketOpen(message: unknown): void {
  const { socket } = message as WebSocketOpenMessage;
  owners.get(socket)?.websocketOpened();
}

function onWebSocketClose(message: unknown): void {
  const { socket, code } = message as WebSocketCloseMessage;
  owners.get(socket)?.websocketClosed(code);
}

/**
 * The HTTP server's metrics (docs/PROTOCOL.md §6.2): connections, answers by
 * status class, refusals, timeouts, bytes both ways, WebSocket opens and
 * closes by code. Every hot-path method is one increment.
 */
export class HttpMetrics {
  private readonly requests: CounterChild[];
  private readonly refusals = new Map<string, CounterChild>();
  private readonly refusalFamily: Counter;
  private readonly timeoutFamily: Counter;
  private readonly closes: Counter;
  private readonly connectionsTotal: CounterChild;
  private readonly upgradeRequests: CounterChild;
  private websocketsOpen = 0;
  private closedBytesRead = 0;
  private closedBytesWritten = 0;

  /**
   * @param sockets the open sockets, read at scrape time for their live byte counts
   * @param openConnections the admitted connections open now
   */
  constructor(readonly registry: MetricsRegistry, sockets: () => Iterable<Socket>, openConnections: () => number) {
    registry.gauge({
      name: 'pushwire_connections_open', help: 'TCP connections open and admitted (HTTP, streams and WebSockets alike).',
      collect: (g) => g.set(openConnections()),
    });
    this.connectionsTotal = registry.counter({ name: 'pushwire_connections_total', help: 'TCP connections accepted, refused ones included.' }).labels();
    const requests = registry.counter({
      name: 'pushwire_http_requests_total', help: 'HTTP requests by the status class of their answer ("none": closed before any answer).',
      labelNames: ['status_class'],
    });
    this.requests = STATUS_CLASSES.map((c) => requests.labels(c));
    this.upgradeRequests = registry.counter({ name: 'pushwire_http_upgrade_requests_total', help: 'Upgrade (WebSocket) requests received.' }).labels();
    this.refusalFamily = registry.counter({
      name: 'pushwire_refusals_total', help: 'Requests and connections refused, by the limit or check that refused them.',
      labelNames: ['reason'],
    });
    // Known series start at 0, so that a rate over them is defined before the first refusal.
    for (const reason of ['max_connections', 'max_connections_per_ip', 'origin']) this.refusals.set(reason, this.refusalFamily.labels(reason));
    this.timeoutFamily = registry.counter({
      name: 'pushwire_timeouts_total', help: 'Connections closed by a timeout: "headers" (no complete request head in time), "idle".',
      labelNames: ['kind'],
    });
    this.timeoutFamily.labels('headers');
    this.timeoutFamily.labels('idle');
    registry.counter({
      name: 'pushwire_bytes_received_total', help: 'Bytes read from clients, all connections.',
      collect: (c) => {
        let live = 0;
        for (const socket of sockets()) live += socket.bytesRead;
        c.labels().set(this.closedBytesRead + live);
      },
    });
    registry.counter({
      name: 'pushwire_bytes_sent_total', help: 'Bytes written to clients, all connections.',
      collect: (c) => {
        let live = 0;
        for (const socket of sockets()) live += socket.bytesWritten;
        c.labels().set(this.closedBytesWritten + live);
      },
    });
    registry.gauge({ name: 'pushwire_websockets_open', help: 'WebSocket connections open, every endpoint.', collect: (g) => g.set(this.websocketsOpen) });
    this.closes = registry.counter({
      name: 'pushwire_websocket_closes_total',
      help: 'WebSocket connections closed, by registered close code (1006: no close frame); "other": any other code.',
      labelNames: ['code'],
    });
    if (!subscribed) {
      subscribed = true;
      diagnosticsChannel.subscribe('pushwire:websocket:open', onWebSocketOpen);
      diagnosticsChannel.subscribe('pushwire:websocket:close', onWebSocketClose);
    }
  }

  /** A socket was accepted: its WebSocket, if it becomes one, is counted here. */
  connected(socket: Socket): void {
    this.connectionsTotal.value++;
    owners.set(socket, this);
  }

  /** A socket closed: its byte counts move from the live sum to the closed one. */
  disconnected(socket: Socket): void {
    this.closedBytesRead += socket.bytesRead;
    this.closedBytesWritten += socket.bytesWritten;
  }

  /** An HTTP answer is done (or abandoned: `answered` false). */
  answered(status: number, answered: boolean): void {
    const index = answered ? Math.trunc(status / 100) : 0;
    this.requests[index >= 1 && index <= 5 ? index : 0]!.value++;
  }

  upgradeRequested(): void {
    this.upgradeRequests.value++;
  }

  /** A refusal by a limit or a check; the push layer counts its own reasons here too. */
  refused(reason: LimitReason | 'origin' | (string & {})): void {
    let child = this.refusals.get(reason);
    if (!child) this.refusals.set(reason, (child = this.refusalFamily.labels(reason)));
    child.value++;
  }

  timedOut(kind: 'headers' | 'idle'): void {
    this.timeoutFamily.labels(kind).value++;
  }

  /** @internal From the WebSocket layer's diagnostics channel. */
  websocketOpened(): void {
    this.websocketsOpen++;
  }

  /** @internal */
  websocketClosed(code: number): void {
    this.websocketsOpen--;
    this.closes.labels(REGISTERED_CLOSE_CODES.has(code) ? code : 'other').value++;
  }
}
