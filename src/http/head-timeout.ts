import type { Duplex } from 'node:stream';

const kTimer = Symbol('pushwire.headTimer');
const kInFlight = Symbol('pushwire.requestsInFlight');
const kReadAtRest = Symbol('pushwire.bytesReadAtRest');
type Watched = Duplex & { [kTimer]?: NodeJS.Timeout | null; [kInFlight]?: number; [kReadAtRest]?: number; bytesRead?: number };

/**
 * The request-head deadline of docs/PROTOCOL.md §6.1: a connection gets `ms`
 * to send a complete request head, counted from its accept, and again from
 * the end of each exchange on a kept-alive connection. One timer per waiting
 * connection, so the deadline holds to the timer's precision; Node's own
 * headersTimeout is checked on an interval (up to 5 s late by default) and
 * does not cover the second head of a kept-alive connection.
 */
export class HeadTimeouts {
  constructor(
    readonly ms: number,
    /**
     * Called once the deadline passed with no complete head (and no request in
     * flight); `idle` when a kept-alive connection sent no byte of a next request.
     */
    private readonly expired: (socket: Duplex, idle: boolean) => void,
  ) {}

  /** A new connection: its first request head is due within `ms` (or a shorter grace). */
  start(socket: Duplex, ms = this.ms): void {
    const watched = socket as Watched;
    watched[kInFlight] = 0;
    watched[kReadAtRest] = -1;
    watched[kTimer] = arm(this, watched, ms);
  }

  /** A complete head arrived (a request or an upgrade): no deadline while it is served. */
  headReceived(socket: Duplex): void {
    const watched = socket as Watched;
    watched[kInFlight] = (watched[kInFlight] ?? 0) + 1;
    disarm(watched);
  }

  /** An exchange ended; a connection kept alive with nothing in flight owes the next head within `ms`. */
  exchangeDone(socket: Duplex): void {
    const watched = socket as Watched;
    const inFlight = (watched[kInFlight] ?? 1) - 1;
    watched[kInFlight] = inFlight;
    if (inFlight > 0 || socket.destroyed || socket.writableEnded) return;
    disarm(watched);
    watched[kReadAtRest] = watched.bytesRead ?? -1;
    watched[kTimer] = arm(this, watched, this.ms);
  }

  /** The connection closed. */
  stop(socket: Duplex): void {
    disarm(socket as Watched);
  }

  /** @internal */
  fire(socket: Watched): void {
    socket[kTimer] = null;
    // Already answered and ending (Node's own check may have come first): nothing to do.
    if ((socket[kInFlight] ?? 0) > 0 || socket.destroyed || socket.writableEnded) return;
    const idle = socket[kReadAtRest] !== -1 && socket[kReadAtRest] === socket.bytesRead;
    this.expired(socket, idle);
  }
}

function arm(owner: HeadTimeouts, socket: Watched, ms: number): NodeJS.Timeout {
  // Arguments instead of a closure: one shared callback for every connection.
  const timer = setTimeout(onDeadline, ms, owner, socket);
  timer.unref();
  return timer;
}

function disarm(socket: Watched): void {
  const timer = socket[kTimer];
  if (timer) {
    clearTimeout(timer);
    socket[kTimer] = null;
  }
}

function onDeadline(owner: HeadTimeouts, socket: Watched): void {
  owner.fire(socket);
}
