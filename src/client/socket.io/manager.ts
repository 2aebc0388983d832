/**
 * The Manager: one Engine.IO connection shared by the namespaces (sockets)
 * of a server, Socket.IO packets in and out of it, and reconnection with
 * exponential backoff.
 */
import { SocketPacketDecoder, type SocketPacket } from '../../protocol/socket-io-packet.js';
import { Emitter } from './emitter.js';
import { Engine } from './engine.js';
import type { Socket } from './socket.js';
import { backoffDelay, socketMessages } from './wire.js';

export interface ManagerOptions {
  path?: string;
  query?: Record<string, string>;
  transports?: string[];
  upgrade?: boolean;
  reconnection?: boolean;
  reconnectionAttempts?: number;
  reconnectionDelay?: number;
  reconnectionDelayMax?: number;
  randomizationFactor?: number;
  /** Time allowed to open a connection before it counts as failed. */
  timeout?: number;
  autoConnect?: boolean;
}

export class Manager extends Emitter {
  engine: Engine | null = null;
  readonly opts: Required<ManagerOptions>;
  readyState: 'opening' | 'open' | 'closed' = 'closed';
  readonly nsps: Record<string, Socket> = {};
  private decoder = new SocketPacketDecoder<ArrayBuffer>();
  private attempts = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private openTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnecting = false;
  private skipReconnect = false;

  constructor(readonly uri: string, opts: ManagerOptions = {}) {
    super();
    this.opts = {
      path: '/socket.io',
      query: {},
      transports: ['polling', 'websocket'],
      upgrade: true,
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      timeout: 20000,
      autoConnect: true,
      ...opts,
    };
  }

  /** Opens the connection (if not open or opening); `fn` hears the outcome once. */
  open(fn?: (err?: Error) => void): this {
    if (this.readyState !== 'closed') return this;
    this.skipReconnect = false;
    this.readyState = 'opening';
    const path = this.opts.path.replace(/\/*$/, '/');
    const engine = new Engine(this.uri, { path, query: this.opts.query, transports: this.opts.transports, upgrade: this.opts.upgrade });
    this.engine = engine;
    engine.on('open', () => {
      if (this.openTimer !== null) clearTimeout(this.openTimer);
      this.readyState = 'open';
      // Attachments still due from the last connection never come.
      this.decoder = new SocketPacketDecoder<ArrayBuffer>();
      this.emitLocal('open');
      fn?.();
    });
    engine.on('message', (data: string | ArrayBuffer) => this.onMessage(data));
    engine.on('close', (reason: string) => {
      if (this.engine !== engine) return;
      if (this.openTimer !== null) clearTimeout(this.openTimer);
      const wasOpen = this.readyState === 'open';
      this.readyState = 'closed';
      this.engine = null;
      if (!wasOpen) {
        const err = new Error('xhr poll error');
        fn?.(err);
        this.emitLocal('error', err);
        for (const nsp of Object.keys(this.nsps)) this.nsps[nsp]!.onOpenFailed(err);
      } else {
        this.emitLocal('close', reason);
        for (const nsp of Object.keys(this.nsps)) this.nsps[nsp]!.onManagerClose(reason);
      }
      if (!this.skipReconnect && this.opts.reconnection) this.reconnect();
    });
    this.openTimer = setTimeout(() => engine.close(), this.opts.timeout);
    engine.open();
    return this;
  }

  connect(fn?: (err?: Error) => void): this {
    return this.open(fn);
  }

  private onMessage(data: string | ArrayBuffer): void {
    let packet: SocketPacket | null;
    try {
      packet = this.decoder.add(data);
    } catch {
      // Not a Socket.IO packet (§5.3): the connection is not to be trusted further.
      this.engine?.close();
      return;
    }
    if (packet !== null) this.nsps[packet.nsp]?.onPacket(packet);
  }

  /** @internal */
  packet(packet: SocketPacket): void {
    const engine = this.engine;
    if (engine === null) return;
    for (const message of socketMessages(packet)) engine.send(message);
  }

  /** @internal A socket is gone: with none left, the connection closes. */
  destroySocket(): void {
    for (const nsp of Object.keys(this.nsps)) if (this.nsps[nsp]!.active) return;
    this.close();
  }

  close(): void {
    this.skipReconnect = true;
    this.reconnecting = false;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.engine?.close();
  }

  private reconnect(): void {
    if (this.reconnecting || this.skipReconnect) return;
    if (this.attempts >= this.opts.reconnectionAttempts) {
      this.attempts = 0;
      this.emitLocal('reconnect_failed');
      return;
    }
    const delay = backoffDelay(this.opts, this.attempts, Math.random());
    this.reconnecting = true;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.skipReconnect) return;
      this.attempts++;
      this.emitLocal('reconnect_attempt', this.attempts);
      this.open((err) => {
        this.reconnecting = false;
        if (err) {
          this.emitLocal('reconnect_error', err);
          this.reconnect();
        } else {
          const attempts = this.attempts;
          this.attempts = 0;
          this.emitLocal('reconnect', attempts);
        }
      });
    }, delay);
  }
}
