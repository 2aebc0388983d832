import type http from 'node:http';
import { EnginePacketType, encodeOpenPacket, encodeTextPacket, type EnginePacket } from '../protocol/engine-io-packet.js';
import { OutgoingPacket } from './outgoing-packet.js';
import { PollingTransport } from './polling-transport.js';
import type { Transport, TransportEnd, TransportName, TransportOwner } from './transport.js';
import type { WebSocketTransport } from './websocket-transport.js';

/** Engine.IO's tuning (the names and defaults of engine.io's options). */
export interface EngineSettings {
  /** The server pings every this many ms... */
  pingInterval: number;
  /** ...and closes a session whose pong takes longer than this. */
  pingTimeout: number;
  /** An upgrade must complete (probe, then "5") within this long. */
  upgradeTimeout: number;
  /** Largest POST body, and largest WebSocket message; announced as maxPayload. */
  maxHttpBufferSize: number;
  /** Bytes waiting for one slow client before its session is closed (it may then recover). */
  maxBufferedBytes: number;
  /** Broadcast packets owed to a WebSocket in one turn leave in one write at its end (docs/PROTOCOL.md §3.9). */
  coalesceWrites: boolean;
  transports: readonly TransportName[];
  allowUpgrades: boolean;
}

/** What a session reports to the layer above (Socket.IO). */
export interface SessionListener {
  onMessage(session: EngineSession, data: string | Buffer): void;
  onClose(session: EngineSession, reason: string): void;
}

/** The server side a session needs. */
export interface SessionHost {
  readonly settings: EngineSettings;
  forget(session: EngineSession): void;
}

const PING = OutgoingPacket.text(encodeTextPacket(EnginePacketType.Ping), true);
const PROBE_PONG = OutgoingPacket.text(encodeTextPacket(EnginePacketType.Pong, 'probe'), true);
const CLOSE = OutgoingPacket.text(encodeTextPacket(EnginePacketType.Close), true);

function flushSession(session: EngineSession): void {
  session.flush();
}

/** Closed on the next tick, not inside the send that found it slow (which may be mid-broadcast). */
function abortSlowSession(session: EngineSession): void {
  session.abort('transport error');
}

/**
 * One Engine.IO session (docs/PROTOCOL.md §5.1): its id, its transport and
 * the upgrade to WebSocket, the packets waiting for a held poll, and the
 * server-driven heartbeat (ping every pingInterval, pong due within
 * pingTimeout).
 */
export class EngineSession implements TransportOwner {
  readonly id: string;
  /** The request that opened the session (headers, query, address). */
  readonly request: http.IncomingMessage;
  transport: Transport;
  readyState: 'open' | 'closing' | 'closed' = 'open';
  /** Set by the layer above before any message arrives. */
  listener: SessionListener | null = null;
  upgraded = false;
  private probe: WebSocketTransport | null = null;
  private queue: OutgoingPacket[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private pingTimer: NodeJS.Timeout | null = null;
  private pongTimer: NodeJS.Timeout | null = null;
  /** engine.io grants one extension of the pong deadline when other packets arrive first. */
  private pongExtended = false;
  private upgradeTimer: NodeJS.Timeout | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  /** How a server-side close ends the transport once the queue is out. */
  private closingEnd: TransportEnd = 'close';
  /** Found too slow: its abort is on its way. */
  private slow = false;

  constructor(private readonly host: SessionHost, id: string, request: http.IncomingMessage, transport: Transport) {
    this.id = id;
    this.request = request;
    this.transport = transport;
    transport.owner = this;
  }

  get remoteAddress(): string {
    return this.request.socket?.remoteAddress ?? '';
  }

  /** Sends the open packet and starts the heartbeat. */
  open(): void {
    const { settings } = this.host;
    const upgrades = this.transport.name === 'polling' && settings.allowUpgrades && settings.transports.includes('websocket')
      ? ['websocket'] : [];
    this.send(OutgoingPacket.text(encodeOpenPacket({
      sid: this.id,
      upgrades,
      pingInterval: settings.pingInterval,
      pingTimeout: settings.pingTimeout,
      maxPayload: settings.maxHttpBufferSize,
    })));
    this.pingTimer = setTimeout(() => this.ping(), settings.pingInterval);
  }

  private ping(): void {
    this.pongExtended = false;
    this.send(PING);
    this.pongTimer = setTimeout(() => this.abort('ping timeout'), this.host.settings.pingTimeout);
  }

  /** Queues a packet; false once the session is closing. */
  send(packet: OutgoingPacket): boolean {
    if (this.readyState !== 'open') return false;
    const transport = this.transport;
    if (transport.name === 'websocket') {
      transport.sendOne(packet);
      if (transport.bufferedAmount > this.host.settings.maxBufferedBytes) this.tooSlow();
      return true;
    }
    this.queue.push(packet);
    this.queuedBytes += packet.size;
    if (this.queuedBytes > this.host.settings.maxBufferedBytes) this.tooSlow();
    // Packets sent in the same turn share one poll answer.
    if (transport.writable && !this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushSession, this);
    }
    return true;
  }

  /** A client that does not take what it is sent is let go (it may come back and recover). */
  private tooSlow(): void {
    if (this.slow) return;
    this.slow = true;
    process.nextTick(abortSlowSession, this);
  }

  /** @internal Answers the held poll with every queued packet. */
  flush(): void {
    this.flushScheduled = false;
    if (this.queue.length === 0 || !this.transport.writable || this.readyState === 'closed') return;
    const packets = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.transport.send(packets);
  }

  onTransportWritable(transport: Transport): void {
    if (transport !== this.transport) return;
    if (this.readyState === 'closing') return this.finishClosing();
    if (this.queue.length > 0) this.flush();
  }

  onTransportPacket(transport: Transport, packet: EnginePacket): void {
    if (transport === this.probe) return this.onProbePacket(packet);
    if (transport !== this.transport || this.readyState !== 'open') return;
    if (this.pongTimer !== null && !this.pongExtended && packet.type !== EnginePacketType.Pong) {
      this.pongTimer.refresh();
      this.pongExtended = true;
    }
    switch (packet.type) {
      case EnginePacketType.Message:
        this.listener?.onMessage(this, packet.data);
        break;
      case EnginePacketType.Pong:
        if (this.pongTimer !== null) clearTimeout(this.pongTimer);
        this.pongTimer = null;
        this.pingTimer?.refresh();
        break;
      case EnginePacketType.Ping:
        // v4 heartbeats go from server to client only.
        this.abort('transport error');
        break;
      case EnginePacketType.Close:
        // The client leaves: a held poll is let go with a noop.
        this.abort('transport close', 'noop');
        break;
      default:
        // open, upgrade, noop: nothing to do on an established transport.
        break;
    }
  }

  onTransportClose(transport: Transport, reason: string): void {
    if (transport === this.probe) return this.dropProbe();
    if (transport === this.transport) this.abort(reason);
  }

  /** A WebSocket with this sid: it becomes the transport once probed and confirmed. */
  startUpgrade(probe: WebSocketTransport): void {
    if (this.readyState !== 'open' || this.probe !== null || this.upgraded) return probe.close('close');
    this.probe = probe;
    probe.owner = this;
    this.upgradeTimer = setTimeout(() => this.dropProbe(), this.host.settings.upgradeTimeout);
  }

  get upgrading(): boolean {
    return this.probe !== null;
  }

  private onProbePacket(packet: EnginePacket): void {
    const probe = this.probe!;
    if (packet.type === EnginePacketType.Ping && packet.data === 'probe') {
      probe.send([PROBE_PONG]);
      // The held poll ends with a noop, so the client can pause polling and send "5".
      if (this.transport instanceof PollingTransport) this.transport.pause();
    } else if (packet.type === EnginePacketType.Upgrade) {
      if (this.upgradeTimer !== null) clearTimeout(this.upgradeTimer);
      this.upgradeTimer = null;
      const old = this.transport;
      this.probe = null;
      this.transport = probe;
      this.upgraded = true;
      old.close('noop');
      // Whatever waited for the next poll goes over the WebSocket, in order.
      const packets = this.queue;
      this.queue = [];
      this.queuedBytes = 0;
      if (packets.length > 0) probe.send(packets);
    } else {
      this.dropProbe();
    }
  }

  /** The upgrade failed: the session goes on polling. */
  private dropProbe(): void {
    const probe = this.probe;
    if (probe === null) return;
    this.probe = null;
    if (this.upgradeTimer !== null) clearTimeout(this.upgradeTimer);
    this.upgradeTimer = null;
    probe.close('close');
    if (this.transport instanceof PollingTransport) this.transport.resume();
  }

  /**
   * Server-initiated close: packets already queued still go out, then the
   * close packet (over polling, in the next poll answer, waited for at most
   * pingTimeout).
   */
  close(end: TransportEnd = 'close'): void {
    if (this.readyState !== 'open') return;
    this.readyState = 'closing';
    this.stopTimers();
    this.dropProbe();
    this.closingEnd = end;
    if (this.transport.name === 'websocket' || this.transport.writable) return this.finishClosing();
    this.lingerTimer = setTimeout(() => this.finishClosing(), this.host.settings.pingTimeout);
  }

  private finishClosing(): void {
    if (this.readyState === 'closed') return;
    if (this.transport.name === 'polling' && this.transport.writable) {
      // The last answer: what was queued, then the close packet.
      const packets = this.queue;
      this.queue = [];
      packets.push(CLOSE);
      this.transport.send(packets);
      return this.end('forced close', 'discard');
    }
    this.end('forced close', this.closingEnd);
  }

  /** Closes at once: a transport failure, a ping timeout, or the client's close packet. */
  abort(reason: string, end: TransportEnd = 'close'): void {
    if (this.readyState === 'closed') return;
    this.stopTimers();
    this.dropProbe();
    this.end(reason, end);
  }

  private end(reason: string, end: TransportEnd): void {
    this.readyState = 'closed';
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.queue = [];
    this.transport.close(end);
    this.host.forget(this);
    this.listener?.onClose(this, reason);
    this.listener = null;
  }

  private stopTimers(): void {
    if (this.pingTimer !== null) clearTimeout(this.pingTimer);
    if (this.pongTimer !== null) clearTimeout(this.pongTimer);
    this.pingTimer = this.pongTimer = null;
  }
}
