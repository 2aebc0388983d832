import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { ackPromise } from '../protocol/ack-promise.js';
import { RESERVED_EVENTS, SocketPacketType, type SocketPacket } from '../protocol/socket-io-packet.js';
import type { BroadcastOperator } from './broadcast.js';
import type { SocketIoClient } from './client.js';
import type { EngineSession } from './engine-session.js';
import { eventPackets } from './event-packets.js';
import type { Namespace } from './namespace.js';
import type { OutgoingPacket } from './outgoing-packet.js';
import { RECOVERABLE_REASONS, type RecoveryPlan } from './recovery.js';
import { accepts, type CursorGroup, type FeedMember } from './room-feeds.js';
import { channelOfRoom, formatOffset, fromLogMessage, NAMESPACE_ROOM } from './room-channels.js';

/** What the server knows of the request that opened the connection, as socket.io's `socket.handshake`. */
export interface Handshake {
  headers: http.IncomingHttpHeaders;
  time: string;
  address: string;
  xdomain: boolean;
  secure: boolean;
  issued: number;
  url: string;
  query: Record<string, string>;
  /** The CONNECT packet's payload (`auth` of the client). */
  auth: Record<string, unknown>;
}

export type AckCallback = (...args: any[]) => void;
/** A middleware for incoming events: `[event, ...args]`; next(err) refuses the event (the socket gets 'error'). */
export type EventMiddleware = (event: unknown[], next: (err?: Error) => void) => void;

function noop(): void {}

/**
 * One client in one namespace, in the shape of socket.io's server Socket:
 * `on(event, (…args, ack) => …)` for what the client emits, `emit` to send to
 * it, rooms, broadcasts, `handshake`, `data`, `disconnect()`.
 */
export class Socket extends EventEmitter {
  /** Public id (not the Engine.IO session id, which works as a secret). */
  id: string;
  /** Private id for connection state recovery; null when recovery is off. */
  pid: string | null;
  /** True when this socket took over the session of one that was cut, and got what it missed. */
  recovered = false;
  /** Anything the application keeps with the socket (kept across a recovery). */
  data: any = {};
  connected = false;
  readonly nsp: Namespace;
  readonly handshake: Handshake;
  /** Its rooms, its own id among them. */
  readonly rooms = new Set<string>();
  /** @internal */
  group: CursorGroup | null = null;
  /** @internal its logged rooms, by channel */
  readonly channels = new Map<string, string>();
  /** @internal each channel's last id when it joined that room */
  readonly joinCursors = new Map<string, number>();
  /** @internal */
  readonly client: SocketIoClient;
  private readonly acks = new Map<number, AckCallback>();
  // Per socket, from 1 (the published protocol suite expects the first to be 1).
  private nextAckId = 1;
  private flags: { timeout?: number; volatile?: boolean } = {};
  private anyListeners: AckCallback[] | null = null;
  private readonly middlewares: EventMiddleware[] = [];

  /** @internal */
  constructor(nsp: Namespace, client: SocketIoClient, auth: Record<string, unknown>, id: string, pid: string | null) {
    // An async handler that rejects is logged (below), not left to crash the process.
    super({ captureRejections: true });
    this.nsp = nsp;
    this.client = client;
    this.id = id;
    this.pid = pid;
    const req = client.conn.request;
    const url = req.url ?? '/';
    const query: Record<string, string> = Object.create(null);
    try {
      for (const [key, value] of new URL(url, 'http://localhost').searchParams) query[key] = value;
    } catch { /* a request that reached us has a parseable target */ }
    this.handshake = {
      headers: req.headers,
      time: new Date().toString(),
      address: client.conn.remoteAddress,
      xdomain: req.headers.origin !== undefined,
      secure: (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true,
      issued: Date.now(),
      url,
      query,
      auth,
    };
    // An 'error' with no listener would throw; socket.io keeps one too.
    this.on('error', noop);
  }

  /** @internal Where captureRejections sends a rejected async handler. */
  [Symbol.for('nodejs.rejection')](err: unknown, event: string | symbol): void {
    console.error(`pushwire: a Socket.IO '${String(event)}' handler rejected:`, err);
  }

  /** The Engine.IO connection under it (`conn.transport.name` is 'polling' or 'websocket'). */
  get conn(): EngineSession {
    return this.client.conn;
  }

  get request(): http.IncomingMessage {
    return this.client.conn.request;
  }

  get disconnected(): boolean {
    return !this.connected;
  }

  /**
   * Sends an event to this client. A function as last argument is called
   * with the client's acknowledgement. With recovery on, events without an
   * acknowledgement carry the offset as their last argument, as socket.io's do.
   */
  override emit(event: string | symbol, ...args: any[]): boolean {
    if (typeof event !== 'string' || RESERVED_EVENTS.has(event)) throw new Error(`"${String(event)}" is a reserved event name`);
    const flags = this.flags;
    this.flags = {};
    const data: unknown[] = [event, ...args];
    const packet: SocketPacket = { type: SocketPacketType.Event, nsp: this.nsp.name, data };
    if (typeof data[data.length - 1] === 'function') {
      const id = this.nextAckId++;
      this.registerAck(id, data.pop() as AckCallback, flags.timeout);
      packet.id = id;
    } else if (this.nsp.server.recovery !== null && this.group !== null) {
      data.push(this.group.offset);
    }
    if (!this.connected) return false;
    if (flags.volatile && !this.client.conn.transport.writable) return false;
    this.client.sendPacket(packet);
    return true;
  }

  /** emit() with the acknowledgement as a promise (rejected after timeout() ms, if set). */
  emitWithAck(event: string, ...args: unknown[]): Promise<any> {
    return ackPromise((ack) => this.emit(event, ...args, ack), this.flags.timeout);
  }

  private registerAck(id: number, ack: AckCallback, timeout: number | undefined): void {
    if (timeout === undefined) {
      this.acks.set(id, ack);
      return;
    }
    const timer = setTimeout(() => {
      this.acks.delete(id);
      ack.call(this, new Error('operation has timed out'));
    }, timeout);
    this.acks.set(id, (...args: unknown[]) => {
      clearTimeout(timer);
      ack.apply(this, [null, ...args]);
    });
  }

  /** The next emit's acknowledgement gets an error after `ms` (callback: `(err, ...args)`). */
  timeout(ms: number): this {
    this.flags.timeout = ms;
    return this;
  }

  /** The next emit is dropped when the client cannot take it right now. */
  get volatile(): this {
    this.flags.volatile = true;
    return this;
  }

  send(...args: unknown[]): this {
    this.emit('message', ...args);
    return this;
  }

  write(...args: unknown[]): this {
    return this.send(...args);
  }

  /** Joins rooms; a room that names a valid channel follows that channel (docs/PROTOCOL.md §5.4). */
  join(rooms: string | readonly string[]): void {
    let moved = false;
    for (const room of typeof rooms === 'string' ? [rooms] : rooms) {
      if (typeof room !== 'string' || this.rooms.has(room)) continue;
      this.rooms.add(room);
      if (room === this.id) continue;
      this.nsp._addToRoom(this, room);
      const channel = channelOfRoom(this.nsp.name, room);
      if (channel !== null && !this.channels.has(channel)) {
        this.channels.set(channel, room);
        this.joinCursors.set(channel, this.nsp.server.channels.last(channel));
        moved = true;
      }
    }
    if (moved && this.connected) this.nsp.feeds.place(this, this.channels);
  }

  leave(room: string): void {
    if (!this.rooms.delete(room) || room === this.id) return;
    this.nsp._removeFromRoom(this, room);
    const channel = channelOfRoom(this.nsp.name, room);
    if (channel !== null && this.channels.get(channel) === room) {
      this.channels.delete(channel);
      this.joinCursors.delete(channel);
      if (this.connected) this.nsp.feeds.place(this, this.channels);
    }
  }

  to(room: string | readonly string[]): BroadcastOperator {
    return this.broadcast.to(room);
  }

  in(room: string | readonly string[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: string | readonly string[]): BroadcastOperator {
    return this.broadcast.except(room);
  }

  /** Everyone in the namespace but this socket. */
  get broadcast(): BroadcastOperator {
    return this.nsp.except(this.id);
  }

  /** Leaves the namespace (the client is told); with `close`, the whole connection is closed. */
  disconnect(close = false): this {
    if (!this.connected) return this;
    if (close) {
      this.client.disconnectAll();
    } else {
      this.client.sendPacket({ type: SocketPacketType.Disconnect, nsp: this.nsp.name });
      this._onclose('server namespace disconnect');
    }
    return this;
  }

  /** A middleware for the events this client sends. */
  use(fn: EventMiddleware): this {
    this.middlewares.push(fn);
    return this;
  }

  onAny(listener: AckCallback): this {
    (this.anyListeners ??= []).push(listener);
    return this;
  }

  prependAny(listener: AckCallback): this {
    (this.anyListeners ??= []).unshift(listener);
    return this;
  }

  offAny(listener?: AckCallback): this {
    if (this.anyListeners === null) return this;
    if (listener === undefined) this.anyListeners = null;
    else this.anyListeners = this.anyListeners.filter((l) => l !== listener);
    return this;
  }

  listenersAny(): AckCallback[] {
    return this.anyListeners ?? [];
  }

  /** @internal FeedMember: frames shared with the other sockets of its group. */
  sendPackets(packets: readonly OutgoingPacket[]): void {
    if (this.connected) this.client.sendPackets(packets);
  }

  /**
   * @internal Connected: joins its own room (and, recovered, its old id,
   * rooms and data), answers CONNECT, then sends what it missed.
   */
  _onconnect(plan: RecoveryPlan | null): void {
    const namespaceChannel = channelOfRoom(this.nsp.name, NAMESPACE_ROOM);
    if (plan !== null) {
      this.id = plan.session.sid;
      this.pid = plan.session.pid;
      this.data = plan.session.data;
      this.recovered = true;
      this.join(plan.session.rooms);
    }
    this.rooms.add(this.id);
    if (namespaceChannel !== null && !this.channels.has(namespaceChannel)) {
      this.channels.set(namespaceChannel, NAMESPACE_ROOM);
      this.joinCursors.set(namespaceChannel, this.nsp.server.channels.last(namespaceChannel));
    }
    this.connected = true;
    const answer: Record<string, string> = { sid: this.id };
    if (this.pid !== null) answer.pid = this.pid;
    this.client.sendPacket({ type: SocketPacketType.Connect, nsp: this.nsp.name, data: answer });
    if (plan !== null) this.replay(plan);
    this.nsp.feeds.place(this, this.channels);
  }

  /** What it missed, channel by channel, each event with its offset as it stood then. */
  private replay(plan: RecoveryPlan): void {
    const cursors = new Map<string, number>();
    for (const channel of this.channels.keys()) cursors.set(channel, plan.cursors.get(channel) ?? this.joinCursors.get(channel)!);
    for (const { channel, messages } of plan.replays) {
      const room = this.channels.get(channel);
      if (room === undefined) continue;
      for (const message of messages) {
        cursors.set(channel, message.id);
        const event = fromLogMessage(message);
        if (event === null || !accepts(this, event, room)) continue;
        this.client.sendPackets(eventPackets(this.nsp.name, event, formatOffset(cursors), false));
      }
      this.joinCursors.set(channel, cursors.get(channel)!);
    }
  }

  /** @internal A packet for this namespace from the client. */
  _onpacket(packet: SocketPacket): void {
    switch (packet.type) {
      case SocketPacketType.Event:
        return this.onEvent(packet);
      case SocketPacketType.Ack:
        return this.onAck(packet);
      case SocketPacketType.Disconnect:
        return this._onclose('client namespace disconnect');
    }
  }

  private onEvent(packet: SocketPacket): void {
    const event = packet.data as unknown[];
    if (packet.id !== undefined) event.push(this.ackFor(packet.id));
    if (this.anyListeners !== null) {
      for (const listener of [...this.anyListeners]) this.guard(() => listener.apply(this, event));
    }
    this.runMiddlewares(event, 0);
  }

  private runMiddlewares(event: unknown[], i: number): void {
    if (i === this.middlewares.length) {
      if (this.connected) this.guard(() => EventEmitter.prototype.emit.apply(this, event as [string, ...unknown[]]));
      return;
    }
    let called = false;
    this.guard(() => this.middlewares[i]!(event, (err) => {
      if (called) return;
      called = true;
      if (err) EventEmitter.prototype.emit.call(this, 'error', err);
      else this.runMiddlewares(event, i + 1);
    }));
  }

  /** An application handler that throws must not take the connection (or the process) down. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      console.error('pushwire: a Socket.IO handler threw:', err);
    }
  }

  private ackFor(id: number): AckCallback {
    let sent = false;
    return (...args: unknown[]) => {
      if (sent || !this.connected) return;
      sent = true;
      this.client.sendPacket({ type: SocketPacketType.Ack, nsp: this.nsp.name, id, data: args });
    };
  }

  private onAck(packet: SocketPacket): void {
    const ack = this.acks.get(packet.id!);
    if (ack === undefined) return;
    this.acks.delete(packet.id!);
    this.guard(() => ack.apply(this, packet.data as unknown[]));
  }

  /** @internal Refused (a middleware) or its client gone before it connected: out of the rooms it joined meanwhile. */
  _abandon(): void {
    for (const room of this.rooms) if (room !== this.id) this.nsp._removeFromRoom(this, room);
    this.rooms.clear();
    this.channels.clear();
    this.joinCursors.clear();
  }

  /** @internal Gone: kept for recovery when the cut may be temporary, then out of every room. */
  _onclose(reason: string): void {
    if (!this.connected) return;
    EventEmitter.prototype.emit.call(this, 'disconnecting', reason);
    const store = this.nsp.server.sessionStore;
    if (store !== null && this.pid !== null && RECOVERABLE_REASONS.has(reason)) {
      store.persist({
        sid: this.id,
        pid: this.pid,
        namespace: this.nsp.name,
        rooms: [...this.rooms].filter((room) => room !== this.id),
        data: this.data,
        // Where the client's offset names no channel, it has had nothing since it joined.
        joinCursors: new Map(this.joinCursors),
        disconnectedAt: Date.now(),
      });
    }
    this.connected = false;
    this.nsp.feeds.remove(this);
    for (const room of this.rooms) if (room !== this.id) this.nsp._removeFromRoom(this, room);
    this.nsp._remove(this);
    this.client._remove(this);
    this.acks.clear();
    EventEmitter.prototype.emit.call(this, 'disconnect', reason);
  }
}

export type { FeedMember };
