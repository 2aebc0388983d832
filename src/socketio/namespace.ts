import { EventEmitter } from 'node:events';
import { RESERVED_EVENTS } from '../protocol/socket-io-packet.js';
import { BroadcastOperator } from './broadcast.js';
import type { SocketIoClient } from './client.js';
import { randomId } from './engine-server.js';
import { eventPackets, toLoggedEvent } from './event-packets.js';
import type { OutgoingPacket } from './outgoing-packet.js';
import type { RecoveryPlan } from './recovery.js';
import { channelOfRoom, NAMESPACE_ROOM, toLogMessage } from './room-channels.js';
import { RoomFeeds } from './room-feeds.js';
import type { Server } from './server.js';
import { Socket } from './socket.js';

/** A refusal from a middleware: the client gets CONNECT_ERROR `{message, data}`. */
export type MiddlewareError = Error & { data?: unknown };
export type Middleware = (socket: Socket, next: (err?: MiddlewareError) => void) => void;

/**
 * A namespace, in the shape of socket.io's: its sockets, rooms and
 * middlewares, `on('connection')`, and broadcasts. Broadcasts to rooms that
 * map onto channels go through the channel log (docs/PROTOCOL.md §5.4); the
 * log hands them back to every follower, Socket.IO or not.
 */
export class Namespace extends EventEmitter {
  readonly name: string;
  readonly server: Server;
  /** Connected sockets by id. */
  readonly sockets = new Map<string, Socket>();
  /** Members of each room (a socket's own id is answered by `sockets`). */
  readonly rooms = new Map<string, Set<Socket>>();
  /** @internal */
  readonly feeds: RoomFeeds;
  private readonly middlewares: Middleware[] = [];

  /** @internal */
  constructor(server: Server, name: string) {
    super();
    this.server = server;
    this.name = name;
    this.feeds = new RoomFeeds(name, server.channels, server.recovery !== null);
  }

  use(fn: Middleware): this {
    this.middlewares.push(fn);
    return this;
  }

  to(room: string | readonly string[]): BroadcastOperator {
    return new BroadcastOperator(this).to(room);
  }

  in(room: string | readonly string[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: string | readonly string[]): BroadcastOperator {
    return new BroadcastOperator(this).except(room);
  }

  get volatile(): BroadcastOperator {
    return new BroadcastOperator(this).volatile;
  }

  get local(): BroadcastOperator {
    return new BroadcastOperator(this);
  }

  /** Sends to every socket of the namespace (`io.emit`). */
  override emit(event: string | symbol, ...args: any[]): boolean {
    if (typeof event !== 'string' || RESERVED_EVENTS.has(event)) throw new Error(`"${String(event)}" is a reserved event name`);
    return new BroadcastOperator(this).emit(event, ...args);
  }

  send(...args: unknown[]): this {
    this.emit('message', ...args);
    return this;
  }

  write(...args: unknown[]): this {
    return this.send(...args);
  }

  fetchSockets(): Promise<Socket[]> {
    return new BroadcastOperator(this).fetchSockets();
  }

  socketsJoin(room: string | readonly string[]): void {
    new BroadcastOperator(this).socketsJoin(room);
  }

  socketsLeave(room: string | readonly string[]): void {
    new BroadcastOperator(this).socketsLeave(room);
  }

  disconnectSockets(close = false): void {
    new BroadcastOperator(this).disconnectSockets(close);
  }

  /** @internal A client asks to connect: middlewares (unless it recovers), then CONNECT or CONNECT_ERROR. */
  _add(client: SocketIoClient, auth: Record<string, unknown>): void {
    const recovery = this.server.recovery;
    const socket = new Socket(this, client, auth, randomId(), recovery !== null ? randomId() : null);
    const recovers = recovery !== null && recovery.skipMiddlewares ? this.planRecovery(auth) : undefined;
    if (recovers || this.middlewares.length === 0) return this.connect(client, socket, recovers);
    this.runMiddlewares(socket, 0, (err) => {
      if (client.closed) return socket._abandon();
      if (err) {
        socket._abandon();
        const data: Record<string, unknown> = { message: err.message };
        if (err.data !== undefined) data.data = err.data;
        client.refuse(this.name, data);
        return;
      }
      this.connect(client, socket, undefined);
    });
  }

  private planRecovery(auth: Record<string, unknown>): RecoveryPlan | null {
    const store = this.server.sessionStore;
    if (store === null || auth.pid === undefined) return null;
    return store.recover(auth.pid, auth.offset, this.name, this.server.channels);
  }

  /** `plan` undefined: recovery is decided now, so the log is read in the same turn as the socket starts following it. */
  private connect(client: SocketIoClient, socket: Socket, plan: RecoveryPlan | null | undefined): void {
    if (plan === undefined) plan = this.planRecovery(socket.handshake.auth);
    socket._onconnect(plan);
    this.sockets.set(socket.id, socket);
    client._connected(this.name, socket);
    this.fire('connect', socket);
    this.fire('connection', socket);
  }

  private runMiddlewares(socket: Socket, i: number, done: (err?: MiddlewareError) => void): void {
    if (i === this.middlewares.length) return done();
    let called = false;
    const next = (err?: MiddlewareError) => {
      if (called) return;
      called = true;
      if (err) done(err instanceof Error ? err : Object.assign(new Error(String(err)), {}));
      else this.runMiddlewares(socket, i + 1, done);
    };
    try {
      this.middlewares[i]!(socket, next);
    } catch (err) {
      next(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private fire(event: string, socket: Socket): void {
    try {
      EventEmitter.prototype.emit.call(this, event, socket);
    } catch (err) {
      console.error(`pushwire: a Socket.IO '${event}' handler threw:`, err);
    }
  }

  /** @internal */
  _addToRoom(socket: Socket, room: string): void {
    let members = this.rooms.get(room);
    if (members === undefined) this.rooms.set(room, (members = new Set()));
    members.add(socket);
  }

  /** @internal */
  _removeFromRoom(socket: Socket, room: string): void {
    const members = this.rooms.get(room);
    if (members === undefined) return;
    members.delete(socket);
    if (members.size === 0) this.rooms.delete(room);
  }

  /** @internal */
  _remove(socket: Socket): void {
    if (this.sockets.get(socket.id) === socket) this.sockets.delete(socket.id);
  }

  /** @internal The sockets of this process a broadcast reaches. */
  _targets(rooms: ReadonlySet<string>, except: ReadonlySet<string>): Set<Socket> {
    const out = new Set<Socket>();
    if (rooms.size === 0) {
      for (const socket of this.sockets.values()) out.add(socket);
    } else {
      for (const room of rooms) {
        const own = this.sockets.get(room);
        if (own !== undefined) out.add(own);
        const members = this.rooms.get(room);
        if (members !== undefined) for (const socket of members) out.add(socket);
      }
    }
    if (except.size > 0) {
      for (const socket of out) {
        for (const room of except) {
          if (socket.rooms.has(room)) {
            out.delete(socket);
            break;
          }
        }
      }
    }
    return out;
  }

  /**
   * @internal A broadcast: published on the channel of each target room (the
   * namespace's own channel for "everyone") when every one of them is logged;
   * otherwise (a socket id, a name no channel can have, volatile) delivered
   * straight to the sockets of this process.
   */
  _broadcast(event: string, args: readonly unknown[], rooms: ReadonlySet<string>, except: ReadonlySet<string>, volatile: boolean): void {
    const targets = rooms.size === 0 ? [NAMESPACE_ROOM] : [...rooms];
    const channels: string[] = [];
    let logged = !volatile;
    for (const room of targets) {
      const channel = this.sockets.has(room) ? null : channelOfRoom(this.name, room);
      if (channel === null) logged = false;
      else channels.push(channel);
    }
    if (logged) {
      const message = toLogMessage(event, args, { except: [...except], rooms: rooms.size > 1 ? targets : [] });
      for (const channel of channels) this.server.channels.publish(channel, message.event, message.dataJson);
      return;
    }
    const loggedEvent = toLoggedEvent(event, args);
    const withOffsets = this.server.recovery !== null;
    // Without offsets every socket gets the same bytes; with them, every group its own.
    const byGroup = new Map<unknown, OutgoingPacket[]>();
    for (const socket of this._targets(rooms, except)) {
      if (volatile && !socket.conn.transport.writable) continue;
      // Not in the log, so the offset stays where the socket's channels stand.
      const offset = withOffsets && socket.group !== null ? socket.group.offset : null;
      const key = withOffsets ? socket.group : null;
      let packets = byGroup.get(key);
      if (packets === undefined) byGroup.set(key, (packets = eventPackets(this.name, loggedEvent, offset, true)));
      socket.sendPackets(packets);
    }
  }

  /** @internal The server closes. */
  _close(): void {
    for (const socket of [...this.sockets.values()]) socket._onclose('server shutting down');
    this.feeds.close();
  }
}

