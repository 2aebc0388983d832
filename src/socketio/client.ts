import { SocketPacketDecoder, SocketParseError, SocketPacketType, type SocketPacket } from '../protocol/socket-io-packet.js';
import type { EngineSession, SessionListener } from './engine-session.js';
import { enginePackets } from './event-packets.js';
import type { OutgoingPacket } from './outgoing-packet.js';
import type { Server } from './server.js';
import type { Socket } from './socket.js';

/**
 * The Socket.IO side of one Engine.IO session (docs/PROTOCOL.md §5.3): it
 * decodes packets, routes them to the socket of their namespace, connects
 * namespaces, and closes the session on anything malformed or out of turn.
 */
export class SocketIoClient implements SessionListener {
  readonly conn: EngineSession;
  closed = false;
  private readonly decoder = new SocketPacketDecoder();
  /** Connected sockets by namespace. */
  private readonly sockets = new Map<string, Socket>();
  /** Namespaces whose CONNECT is being decided (middlewares may be asynchronous). */
  private readonly connecting = new Set<string>();
  private connectTimer: NodeJS.Timeout | null;

  constructor(private readonly server: Server, conn: EngineSession) {
    this.conn = conn;
    conn.listener = this;
    // A client that joins no namespace in time is let go.
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.sockets.size === 0) this.close();
    }, server.connectTimeout);
  }

  onMessage(_session: EngineSession, data: string | Buffer): void {
    let packet: SocketPacket | null;
    try {
      packet = this.decoder.add(data);
    } catch (err) {
      if (!(err instanceof SocketParseError)) throw err;
      return this.close();
    }
    if (packet !== null) this.onPacket(packet);
  }

  private onPacket(packet: SocketPacket): void {
    const socket = this.sockets.get(packet.nsp);
    if (packet.type === SocketPacketType.Connect) {
      // A second CONNECT for a namespace is out of turn, as in socket.io.
      if (socket !== undefined || this.connecting.has(packet.nsp)) return this.close();
      const auth = (packet.data ?? {}) as Record<string, unknown>;
      if (!this.server._hasNamespace(packet.nsp)) return this.refuse(packet.nsp, { message: 'Invalid namespace' });
      this.connecting.add(packet.nsp);
      this.server.of(packet.nsp)._add(this, auth);
      return;
    }
    if (socket === undefined || packet.type === SocketPacketType.ConnectError) return this.close();
    socket._onpacket(packet);
  }

  /** CONNECT_ERROR for a namespace: the connection stays, the namespace is not joined. */
  refuse(namespace: string, data: Record<string, unknown>): void {
    this.connecting.delete(namespace);
    this.sendPacket({ type: SocketPacketType.ConnectError, nsp: namespace, data });
  }

  /** @internal */
  _connected(namespace: string, socket: Socket): void {
    this.connecting.delete(namespace);
    this.sockets.set(namespace, socket);
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }

  /** @internal */
  _remove(socket: Socket): void {
    if (this.sockets.get(socket.nsp.name) === socket) this.sockets.delete(socket.nsp.name);
  }

  sendPacket(packet: SocketPacket): void {
    if (this.closed) return;
    const packets = enginePackets(packet);
    for (let i = 0; i < packets.length; i++) this.conn.send(packets[i]!);
  }

  sendPackets(packets: readonly OutgoingPacket[]): void {
    if (this.closed) return;
    for (let i = 0; i < packets.length; i++) this.conn.send(packets[i]!);
  }

  /** Leaves every namespace (each is told), then closes the connection. */
  disconnectAll(): void {
    for (const socket of [...this.sockets.values()]) socket.disconnect();
    this.close();
  }

  /** Closes the connection; its sockets disconnect with 'forced server close'. */
  close(): void {
    if (this.closed) return;
    this.onClose(this.conn, 'forced server close');
    this.conn.close();
  }

  onClose(_session: EngineSession, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.connecting.clear();
    for (const socket of [...this.sockets.values()]) socket._onclose(reason);
    this.sockets.clear();
  }
}
