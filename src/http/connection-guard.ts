import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpMetrics } from '../metrics/http-metrics.js';
import { abort, destroySocket } from './raw-socket.js';
import { ConnectionLimits, addressKey, type LimitReason } from './connection-limits.js';
import { HeadTimeouts } from './head-timeout.js';
import { hostRefusal, type HostPolicy } from './hosts.js';
import { originChecked, originRefusal, type OriginPolicy } from './origin.js';
import { requestUrl, sendError } from './respond.js';

export interface GuardSettings {
  /** Open connections at once; 0: no limit. */
  maxConnections: number;
  /** Open connections at once per client address; 0: no limit. */
  maxConnectionsPerIp: number;
  /** Time for a complete request head, ms. */
  headersTimeout: number;
  origins: OriginPolicy;
  /** The names the server answers to on the paths the Origin rule covers (docs/PROTOCOL.md §6.3). */
  hosts?: HostPolicy;
  /** Paths whose answer may be held open (streams, long polls): nothing is served behind one on its connection. */
  holds?: (method: string | undefined, path: string) => boolean;
}

/**
 * Requests awaiting their answers on one connection, past which it is dropped
 * (docs/PROTOCOL.md §6.1, "Pipelining"): Node parses and queues pipelined
 * requests without bound, and browsers do not pipeline.
 */
export const MAX_PIPELINED = 16;

/** A connection past a limit is answered 503 when its head arrives, or closed after this long. */
const REFUSED_GRACE = 1000;

const kGuard = Symbol('pushwire.guard');
const kKey = Symbol('pushwire.addressKey');
const kRefused = Symbol('pushwire.refusedBy');
/** Requests admitted on the connection whose response has not closed. */
const kInFlight = Symbol('pushwire.inFlight');
/** The last response on the connection that may be held open. */
const kHolder = Symbol('pushwire.holder');
/** Those requests themselves, once a second one is in flight (pipelining; see admitUpgrade). */
const kPending = Symbol('pushwire.pending');
type Guarded = Socket & {
  [kGuard]?: ConnectionGuard; [kKey]?: string; [kRefused]?: LimitReason;
  [kInFlight]?: number; [kHolder]?: http.ServerResponse; [kPending]?: Set<http.IncomingMessage>;
};

/**
 * What every connection and request passes before routing (docs/PROTOCOL.md
 * §5): the connection limits, the request-head deadline, the shutdown, the
 * Host header and the Origin check. Applied here, in one place, so that no
 * path can forget it; counted in the HTTP metrics.
 */
export class ConnectionGuard {
  /** Every open socket, admitted or not (shutdown destroys them; metrics read their byte counts). */
  readonly sockets = new Set<Socket>();
  readonly limits: ConnectionLimits;
  private readonly heads: HeadTimeouts;
  stopping = false;

  constructor(private readonly settings: GuardSettings, readonly metrics: HttpMetrics) {
    this.limits = new ConnectionLimits(settings);
    this.heads = new HeadTimeouts(settings.headersTimeout, (socket, idle) => this.headTimedOut(socket as Guarded, idle));
  }

  /** Listens for the server's connections and idle timeouts. */
  attach(server: http.Server): void {
    server.on('connection', (socket: Socket) => this.connected(socket));
    // With a listener here Node no longer destroys the socket itself: done below, and counted.
    server.on('timeout', (socket: Duplex) => {
      // A held answer (a long poll, a stream, an Engine.IO polling GET) is silent on purpose and
      // ends by its own timeout or heartbeat: the idle timeout never cuts it (docs/PROTOCOL.md §6.1).
      // The socket's next read or write starts its idle timer again.
      if (holdsOpenAnswer(socket as Guarded)) return;
      this.metrics.timedOut('idle');
      socket.destroy();
    });
  }

  private connected(socket: Guarded): void {
    socket[kGuard] = this;
    this.sockets.add(socket);
    socket.on('close', socketOnClose);
    this.metrics.connected(socket);
    const key = addressKey(socket.remoteAddress);
    const refusal = this.limits.admit(key);
    if (refusal === null) {
      socket[kKey] = key;
      this.heads.start(socket);
    } else {
      socket[kRefused] = refusal;
      this.metrics.refused(refusal);
      this.heads.start(socket, Math.min(REFUSED_GRACE, this.settings.headersTimeout));
    }
  }

  /** Before routing a request: true to route it, false when it was answered here. */
  admitRequest(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const socket = req.socket as Guarded;
    this.heads.headReceived(socket);
    res.once('close', responseOnClose);
    const inFlight = (socket[kInFlight] ?? 0) + 1;
    socket[kInFlight] = inFlight;
    (socket[kPending] ??= new Set()).add(req);
    if (inFlight > MAX_PIPELINED) {
      // Whatever is queued on it is released by the requests' 'close'.
      this.metrics.refused('pipelined');
      socket.destroy();
      return false;
    }
    if (holdsOpenAnswer(socket)) {
      // Its answer could only leave after the stream or poll ahead of it ends.
      this.metrics.refused('pipelined');
      sendError(res, 429, 'a request pipelined behind a stream or held poll on the same connection is not served; use another connection', { Connection: 'close' });
      return false;
    }
    const refusal = this.stopping ? 'server is shutting down' : socket[kRefused] ? this.limitMessage(socket[kRefused]) : null;
    if (refusal !== null) {
      sendError(res, 503, refusal, { Connection: 'close' });
      return false;
    }
    if (req.headers.host === undefined && req.httpVersion === '1.1') {
      sendError(res, 400, 'missing Host header');
      return false;
    }
    const path = targetPath(req);
    const host = this.hostRefusal(req, path, false);
    if (host !== null) {
      this.metrics.refused('host');
      sendError(res, 403, host);
      return false;
    }
    const origin = this.originRefusal(req, path, false);
    if (origin !== null) {
      this.metrics.refused('origin');
      sendError(res, 403, origin);
      return false;
    }
    if (this.settings.holds?.(req.method, path)) socket[kHolder] = res;
    return true;
  }

  /** Before routing an upgrade: true to route it, false when it was refused here (before any handshake). */
  admitUpgrade(req: http.IncomingMessage, socket: Duplex): boolean {
    this.heads.headReceived(socket);
    this.metrics.upgradeRequested();
    if (!socket.listeners('error').includes(destroySocket)) socket.on('error', destroySocket);
    const refused = (socket as Guarded)[kRefused];
    if (this.stopping || refused) {
      abort(socket, 503, refused ? this.limitMessage(refused) : 'server is shutting down');
      return false;
    }
    const pending = (socket as Guarded)[kPending];
    if (pending !== undefined && pending.size > 0) {
      // Pipelined behind requests still unanswered: Node hands the socket over and
      // forgets them, so no 'close' would ever release what they hold. They are
      // ended here, and the connection with them (docs/PROTOCOL.md §6.1).
      this.metrics.refused('pipelined');
      for (const queued of [...pending]) queued.destroy();
      pending.clear();
      socket.destroy();
      return false;
    }
    const path = targetPath(req);
    const host = this.hostRefusal(req, path, true);
    if (host !== null) {
      this.metrics.refused('host');
      abort(socket, 403, host);
      return false;
    }
    const origin = this.originRefusal(req, path, true);
    if (origin !== null) {
      this.metrics.refused('origin');
      abort(socket, 403, origin);
      return false;
    }
    return true;
  }

  /** A request that is not routed (CONNECT): its head came, no deadline any more. */
  headReceived(socket: Duplex): void {
    this.heads.headReceived(socket);
  }

  /** Checked where the Origin rule is, first: the own origin it reads from Host is then a name of ours. */
  private hostRefusal(req: http.IncomingMessage, path: string, upgrade: boolean): string | null {
    const hosts = this.settings.hosts;
    if (hosts === undefined || !originChecked(req.method, path, upgrade)) return null;
    return hostRefusal(hosts, req.headers.host);
  }

  private originRefusal(req: http.IncomingMessage, path: string, upgrade: boolean): string | null {
    const origin = req.headers.origin;
    if (origin === undefined) return null;
    if (!originChecked(req.method, path, upgrade)) return null;
    return originRefusal(this.settings.origins, origin, req.headers.host);
  }

  private limitMessage(reason: LimitReason): string {
    return reason === 'max_connections'
      ? `too many connections (limit ${this.settings.maxConnections}); retry later`
      : `too many connections from your address (limit ${this.settings.maxConnectionsPerIp}); retry later`;
  }

  private headTimedOut(socket: Guarded, idle: boolean): void {
    if (socket[kRefused]) return abort(socket, 503, this.limitMessage(socket[kRefused]));
    if (idle) {
      // A kept-alive connection with no next request: closed quietly, as Node's keepAliveTimeout would
      // (an unasked-for 408 could be taken for the answer to a request sent at the same moment).
      this.metrics.timedOut('idle');
      socket.end();
      return;
    }
    this.metrics.timedOut('headers');
    abort(socket, 408, `no complete request head within ${this.settings.headersTimeout} ms`);
  }

  /** @internal */
  socketClosed(socket: Guarded): void {
    this.sockets.delete(socket);
    this.heads.stop(socket);
    const key = socket[kKey];
    if (key !== undefined) this.limits.release(key);
    this.metrics.disconnected(socket);
  }

  /** @internal */
  exchangeDone(res: http.ServerResponse, socket: Guarded): void {
    socket[kInFlight] = (socket[kInFlight] ?? 1) - 1;
    socket[kPending]?.delete(res.req);
    if (socket[kHolder] === res) socket[kHolder] = undefined;
    this.metrics.answered(res.statusCode, res.headersSent);
    this.heads.exchangeDone(socket);
  }
}

/** An answer that may be held open (a path of `holds`) is in flight on the connection. */
function holdsOpenAnswer(socket: Guarded): boolean {
  const holder = socket[kHolder];
  return holder !== undefined && !holder.writableEnded && !holder.destroyed;
}

/** The router's own reading of the target, so that "/x/../push/sse" is seen as the push path it reaches. */
function targetPath(req: http.IncomingMessage): string {
  try {
    return requestUrl(req.url).pathname;
  } catch {
    return req.url ?? '/';
  }
}

// Shared listeners with a back-reference: no closure per connection or request.
function socketOnClose(this: Guarded): void {
  this[kGuard]?.socketClosed(this);
}

function responseOnClose(this: http.ServerResponse): void {
  const socket = this.req.socket as Guarded;
  socket[kGuard]?.exchangeDone(this, socket);
}
