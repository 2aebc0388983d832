/*! pushwire Socket.IO client (MIT): io() over Engine.IO v4 and Socket.IO v5, no dependencies. Source: src/client/socket.io.ts */
/**
 * pushwire's own browser client for its Socket.IO endpoint, served as
 * /socket.io/socket.io.js. A classic script that defines `io()` with the
 * API of socket.io-client that pages use:
 *
 *     <script src="/socket.io/socket.io.js"></script>
 *     var socket = io();
 *     socket.on('chat message', function (msg) { ... });
 *     socket.emit('chat message', 'hello', function (answer) { ... });
 *
 * It opens over HTTP long-polling, upgrades to WebSocket when the server
 * offers it, answers the server's heartbeat (socket.io/engine.ts),
 * reconnects with exponential backoff (socket.io/manager.ts), and recovers
 * the connection state when the server keeps it (socket.io/socket.ts:
 * socket.recovered, events missed while away delivered on return). Packets
 * go through the server's own codecs (src/protocol/). Binary arguments
 * (ArrayBuffer, typed arrays) travel as attachments. docs/PROTOCOL.md §5
 * describes the wire.
 */
import { Manager, type ManagerOptions } from './socket.io/manager.js';
import { Socket, type SocketOptions } from './socket.io/socket.js';

export type LookupOptions = ManagerOptions & SocketOptions & { forceNew?: boolean; multiplex?: boolean };

const managers: Record<string, Manager> = {};

/**
 * io(), io('/namespace'), io('http://host:port/namespace', options): a
 * socket on a connection shared with the other namespaces of that server
 * (a new connection for a namespace already in use, or with forceNew).
 */
export function lookup(uri?: string | LookupOptions, opts: LookupOptions = {}): Socket {
  if (typeof uri === 'object') {
    opts = uri;
    uri = undefined;
  }
  const url = uri === undefined ? null : new URL(uri, location.href);
  const origin = url === null ? location.origin : url.origin;
  const nsp = url === null ? '/' : url.pathname;
  const path = (opts.path ?? '/socket.io').replace(/\/*$/, '');
  const key = origin + path;
  const query: Record<string, string> = { ...(opts.query ?? {}) };
  url?.searchParams.forEach((value, name) => { query[name] = value; });
  const cached = managers[key];
  const newManager = opts.forceNew || opts.multiplex === false || cached === undefined || cached.nsps[nsp]?.active === true;
  let manager: Manager;
  if (newManager) {
    manager = new Manager(origin, { ...opts, path, query });
    manager.on('open', () => { for (const name of Object.keys(manager.nsps)) manager.nsps[name]!.onManagerOpen(); });
    if (!opts.forceNew && opts.multiplex !== false) managers[key] = manager;
  } else {
    manager = cached!;
  }
  return new Socket(manager, nsp, opts);
}

/** The global of socket.io-client's browser bundle: io(), io.connect, io.Manager, io.Socket, io.protocol. */
// `var`, as when this was a classic script of its own: the served script is known by `var io =` (test/socketio/client-interop.test.ts).
export var io = Object.assign(lookup, { connect: lookup, Manager, Socket, protocol: 5 });

(globalThis as { io?: typeof io }).io = io;
