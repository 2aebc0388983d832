/**
 * A Socket: one namespace on a Manager's connection. Events both ways,
 * acknowledgements (with timeout()), a buffer for what is emitted while
 * away, and connection state recovery (docs/PROTOCOL.md §5.5).
 */
import { ackPromise } from '../../protocol/ack-promise.js';
import { RESERVED_EVENTS, SocketPacketType, type SocketPacket } from '../../protocol/socket-io-packet.js';
import { Emitter, type Listener } from './emitter.js';
import type { Manager } from './manager.js';

export interface SocketOptions {
  auth?: Record<string, unknown> | ((cb: (auth: Record<string, unknown>) => void) => void);
}

export class Socket extends Emitter {
  id: string | undefined = undefined;
  connected = false;
  /** True after a reconnection in which the server restored this socket and sent what it missed. */
  recovered = false;
  auth: SocketOptions['auth'];
  private readonly sendBuffer: SocketPacket[] = [];
  private readonly receiveBuffer: unknown[][] = [];
  private readonly acks: Record<number, Listener> = {};
  private ids = 0;
  private pid: string | undefined;
  private lastOffset: string | undefined;
  private flags: { volatile?: boolean; timeout?: number } = {};
  private anyListeners: Listener[] = [];
  /** Wants to be connected (until disconnect() or the server's DISCONNECT). */
  active = false;

  constructor(readonly io: Manager, readonly nsp: string, opts: SocketOptions = {}) {
    super();
    this.auth = opts.auth;
    if (io.opts.autoConnect) this.connect();
  }

  get disconnected(): boolean {
    return !this.connected;
  }

  connect(): this {
    if (this.connected) return this;
    this.active = true;
    this.io.nsps[this.nsp] = this;
    if (this.io.readyState === 'open') this.sendConnect();
    else this.io.open();
    return this;
  }

  open(): this {
    return this.connect();
  }

  /** @internal */
  onManagerOpen(): void {
    if (this.active && !this.connected) this.sendConnect();
  }

  private sendConnect(): void {
    const send = (auth: Record<string, unknown> | undefined) => {
      const data: Record<string, unknown> = { ...(auth ?? {}) };
      if (this.pid !== undefined) {
        data.pid = this.pid;
        if (this.lastOffset !== undefined) data.offset = this.lastOffset;
      }
      this.io.packet({ type: SocketPacketType.Connect, nsp: this.nsp, data });
    };
    if (typeof this.auth === 'function') this.auth(send);
    else send(this.auth);
  }

  /** @internal */
  onOpenFailed(err: Error): void {
    if (!this.connected) this.emitLocal('connect_error', err);
  }

  /** @internal */
  onManagerClose(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.id = undefined;
    this.emitLocal('disconnect', reason);
  }

  /** @internal A packet for this namespace, already checked by the codec (binary ones with their attachments). */
  onPacket(packet: SocketPacket): void {
    switch (packet.type) {
      case SocketPacketType.Connect: {
        const data = packet.data as { sid?: unknown; pid?: string } | undefined;
        if (typeof data?.sid === 'string') return this.onConnect(data.sid, data.pid);
        return this.emitLocal('connect_error', new Error('bad CONNECT answer'));
      }
      case SocketPacketType.Event:
        return this.onEvent(packet.data as unknown[], packet.id);
      case SocketPacketType.Ack: {
        const ack = this.acks[packet.id!];
        if (typeof ack === 'function') {
          delete this.acks[packet.id!];
          ack.apply(this, packet.data as unknown[]);
        }
        return;
      }
      case SocketPacketType.Disconnect:
        this.active = false;
        this.connected = false;
        this.id = undefined;
        this.emitLocal('disconnect', 'io server disconnect');
        this.io.destroySocket();
        return;
      case SocketPacketType.ConnectError: {
        this.active = false;
        const data = packet.data as { message?: string; data?: unknown } | string;
        const err = new Error(typeof data === 'string' ? data : data.message ?? String(data)) as Error & { data?: unknown };
        if (typeof data !== 'string') err.data = data.data;
        this.emitLocal('connect_error', err);
        return;
      }
    }
  }

  private onConnect(id: string, pid: string | undefined): void {
    this.id = id;
    this.recovered = pid !== undefined && this.pid === pid;
    this.pid = pid;
    this.connected = true;
    this.emitLocal('connect');
    // Events that came before the CONNECT answer was handled, then what was emitted while away.
    for (const args of this.receiveBuffer.splice(0)) this.dispatch(args);
    for (const packet of this.sendBuffer.splice(0)) this.io.packet(packet);
  }

  private onEvent(args: unknown[], id: number | undefined): void {
    if (id !== undefined) args.push(this.ackFor(id));
    if (this.connected) this.dispatch(args);
    else this.receiveBuffer.push(args);
  }

  private dispatch(args: unknown[]): void {
    // With recovery on, a string last argument is the offset to come back with.
    if (this.pid !== undefined && args.length > 0 && typeof args[args.length - 1] === 'string') this.lastOffset = args[args.length - 1] as string;
    for (const fn of this.anyListeners.slice()) fn.apply(this, args);
    this.emitLocal(String(args[0]), ...args.slice(1));
  }

  private ackFor(id: number): Listener {
    let sent = false;
    return (...args: unknown[]) => {
      if (sent) return;
      sent = true;
      this.io.packet({ type: SocketPacketType.Ack, nsp: this.nsp, id, data: args });
    };
  }

  /** Sends an event; a function as last argument gets the server's acknowledgement. */
  emit(event: string, ...args: unknown[]): this {
    if (RESERVED_EVENTS.has(event)) throw new Error(`"${event}" is a reserved event name`);
    const flags = this.flags;
    this.flags = {};
    const data: unknown[] = [event, ...args];
    const packet: SocketPacket = { type: SocketPacketType.Event, nsp: this.nsp, data };
    if (typeof data[data.length - 1] === 'function') {
      const id = this.ids++;
      let ack = data.pop() as Listener;
      if (flags.timeout !== undefined) {
        const callback = ack;
        const timer = setTimeout(() => {
          delete this.acks[id];
          callback.call(this, new Error('operation has timed out'));
        }, flags.timeout);
        ack = (...answer: unknown[]) => {
          clearTimeout(timer);
          callback.apply(this, [null, ...answer]);
        };
      }
      this.acks[id] = ack;
      packet.id = id;
    }
    if (this.connected && this.io.engine !== null) this.io.packet(packet);
    else if (!flags.volatile) this.sendBuffer.push(packet);
    return this;
  }

  /** emit() with the acknowledgement as a promise (rejected after timeout() ms, if set). */
  emitWithAck(event: string, ...args: unknown[]): Promise<any> {
    return ackPromise((ack) => this.emit(event, ...args, ack), this.flags.timeout);
  }

  send(...args: unknown[]): this {
    return this.emit('message', ...args);
  }

  timeout(ms: number): this {
    this.flags.timeout = ms;
    return this;
  }

  get volatile(): this {
    this.flags.volatile = true;
    return this;
  }

  onAny(fn: Listener): this {
    this.anyListeners.push(fn);
    return this;
  }

  offAny(fn?: Listener): this {
    this.anyListeners = fn === undefined ? [] : this.anyListeners.filter((l) => l !== fn);
    return this;
  }

  /** Leaves the namespace; the connection closes when no other namespace uses it. */
  disconnect(): this {
    if (this.connected) this.io.packet({ type: SocketPacketType.Disconnect, nsp: this.nsp });
    const wasConnected = this.connected;
    this.active = false;
    this.connected = false;
    this.id = undefined;
    if (wasConnected) this.emitLocal('disconnect', 'io client disconnect');
    this.io.destroySocket();
    return this;
  }

  close(): this {
    return this.disconnect();
  }
}
