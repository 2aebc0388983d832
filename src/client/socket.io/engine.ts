/**
 * One Engine.IO v4 session (docs/PROTOCOL.md §5.1, §5.2): HTTP long-polling
 * with fetch, the upgrade to a WebSocket, the heartbeat. Emits 'open',
 * 'message' (a string or an ArrayBuffer), 'upgrade' and 'close' (a reason).
 */
import {
  decodeBinaryPacket, decodePayload, decodeTextPacket, encodePayload, encodeTextPacket, EnginePacketType,
  type EnginePacket, type OpenHandshake,
} from '../../protocol/engine-io-packet.js';
import { Emitter } from './emitter.js';
import { ownBuffer, pollingText, takeBatch, type EngineData } from './wire.js';

const PONG = encodeTextPacket(EnginePacketType.Pong);
const PROBE = encodeTextPacket(EnginePacketType.Ping, 'probe');
const PROBE_ANSWER = encodeTextPacket(EnginePacketType.Pong, 'probe');
const UPGRADE = encodeTextPacket(EnginePacketType.Upgrade);
const CLOSE = encodeTextPacket(EnginePacketType.Close);

export interface EngineOptions {
  path: string;
  query: Record<string, string>;
  transports: string[];
  upgrade: boolean;
}

export class Engine extends Emitter {
  readyState: 'opening' | 'open' | 'closed' = 'opening';
  transport: 'polling' | 'websocket';
  sid = '';
  private pingInterval = 25000;
  private pingTimeout = 20000;
  private maxPayload = 1e6;
  private pingTimer: ReturnType<typeof setTimeout> | null = null;
  private ws: WebSocket | null = null;
  private probe: WebSocket | null = null;
  private polling = false;
  private pollInFlight = false;
  private postInFlight = false;
  /** The close packet's POST, held until the POST in flight is answered: Engine.IO takes one POST at a time. */
  private closePost: (() => void) | null = null;
  private pollAbort: AbortController | null = null;
  private writeBuffer: EngineData[] = [];
  private upgrading = false;

  constructor(private readonly base: string, private readonly opts: EngineOptions) {
    super();
    this.transport = opts.transports[0] === 'websocket' ? 'websocket' : 'polling';
  }

  private url(transport: string, ws: boolean): string {
    const params = new URLSearchParams(this.opts.query);
    params.set('EIO', '4');
    params.set('transport', transport);
    if (this.sid) params.set('sid', this.sid);
    // A fresh query on every request: no cache on the way answers a poll with an old body.
    if (!ws) params.set('t', Date.now().toString(36) + Math.random().toString(36).slice(2, 6));
    const base = ws ? this.base.replace(/^http/, 'ws') : this.base;
    return `${base}${this.opts.path}?${params}`;
  }

  open(): void {
    if (this.transport === 'websocket') this.openWebSocket();
    else {
      this.polling = true;
      this.poll();
    }
  }

  // -- receiving

  private onPacket(packet: EnginePacket): void {
    if (this.readyState === 'closed') return;
    this.armPingTimer();
    const data = packet.data;
    switch (packet.type) {
      case EnginePacketType.Open: return this.onHandshake(data as string);
      case EnginePacketType.Close: return this.onClose('transport close');
      case EnginePacketType.Ping: return this.sendPacket(PONG);
      case EnginePacketType.Message: return this.emitLocal('message', typeof data === 'string' ? data : ownBuffer(data));
      case EnginePacketType.Noop: return;
      // A pong or an upgrade is the client's to send.
      default: return this.onClose('parse error');
    }
  }

  /** A WebSocket message: text is a packet, binary a message packet's bytes. */
  private onWebSocketMessage(data: string | ArrayBuffer): void {
    let packet: EnginePacket;
    try {
      packet = typeof data === 'string' ? decodeTextPacket(data) : decodeBinaryPacket(new Uint8Array(data));
    } catch {
      return this.onClose('parse error');
    }
    this.onPacket(packet);
  }

  private onHandshake(json: string): void {
    let handshake: OpenHandshake;
    try {
      handshake = JSON.parse(json);
    } catch {
      return this.onClose('parse error');
    }
    this.sid = handshake.sid;
    this.pingInterval = handshake.pingInterval;
    this.pingTimeout = handshake.pingTimeout;
    this.maxPayload = handshake.maxPayload || 1e6;
    this.readyState = 'open';
    this.armPingTimer();
    this.emitLocal('open');
    if (this.transport === 'polling' && this.opts.upgrade && this.opts.transports.includes('websocket') && handshake.upgrades.includes('websocket')) {
      this.tryUpgrade();
    }
  }

  /** The server pings every pingInterval: silence for longer than that plus pingTimeout means the link is gone. */
  private armPingTimer(): void {
    if (this.pingTimer !== null) clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.onClose('ping timeout'), this.pingInterval + this.pingTimeout);
  }

  // -- HTTP long-polling

  private poll(): void {
    if (!this.polling || this.pollInFlight || this.readyState === 'closed') return;
    this.pollInFlight = true;
    this.pollAbort = new AbortController();
    fetch(this.url('polling', false), { cache: 'no-store', signal: this.pollAbort.signal })
      .then((res) => {
        if (!res.ok) throw new Error(`poll answered ${res.status}`);
        return res.text();
      })
      .then((text) => {
        this.pollInFlight = false;
        let packets: EnginePacket[];
        try {
          packets = decodePayload(text);
        } catch {
          // One bad packet spoils the whole body (§5.1).
          return this.onClose('parse error');
        }
        for (const packet of packets) this.onPacket(packet);
        if (this.upgrading && this.readyState !== 'closed') this.maybeFinishUpgrade();
        else this.poll();
      }, () => {
        this.pollInFlight = false;
        if (this.polling) this.onClose('transport error');
      });
  }

  private flushPolling(): void {
    if (this.postInFlight || this.writeBuffer.length === 0 || this.readyState === 'closed') return;
    const body = takeBatch(this.writeBuffer, this.maxPayload);
    this.postInFlight = true;
    fetch(this.url('polling', false), {
      method: 'POST', body, headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, cache: 'no-store',
    }).then((res) => {
      this.postInFlight = false;
      if (this.sendClosePost()) return;
      if (!res.ok) throw new Error(`post answered ${res.status}`);
      if (this.upgrading) this.maybeFinishUpgrade();
      else this.flush();
    }).catch(() => {
      this.postInFlight = false;
      if (!this.sendClosePost()) this.onClose('transport error');
    });
  }

  /** Sends the held close POST, if any; true when it did. */
  private sendClosePost(): boolean {
    const send = this.closePost;
    if (send === null) return false;
    this.closePost = null;
    send();
    return true;
  }

  // -- WebSocket

  private listen(ws: WebSocket): void {
    ws.onopen = null;
    ws.onmessage = (ev) => this.onWebSocketMessage(ev.data);
    ws.onclose = () => { if (this.ws === ws) this.onClose('transport close'); };
    ws.onerror = () => { if (this.ws === ws) this.onClose('transport error'); };
  }

  private openWebSocket(): void {
    const ws = new WebSocket(this.url('websocket', true));
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.listen(ws);
  }

  /** The upgrade: a second connection probed with "2probe"; once "3probe" comes back, polling pauses and "5" switches. */
  private tryUpgrade(): void {
    const probe = new WebSocket(this.url('websocket', true));
    probe.binaryType = 'arraybuffer';
    this.probe = probe;
    const fail = () => {
      if (this.probe !== probe) return;
      this.probe = null;
      this.upgrading = false;
      probe.onopen = probe.onmessage = probe.onclose = probe.onerror = null;
      try { probe.close(); } catch { /* already closed */ }
      if (this.readyState === 'open' && this.transport === 'polling') {
        this.poll();
        this.flush();
      }
    };
    probe.onopen = () => probe.send(PROBE);
    probe.onmessage = (ev) => {
      if (ev.data !== PROBE_ANSWER) return fail();
      this.upgrading = true;
      this.maybeFinishUpgrade();
    };
    probe.onerror = fail;
    probe.onclose = fail;
  }

  /** Switches once no poll and no post is in flight, so nothing is lost or reordered. */
  private maybeFinishUpgrade(): void {
    const probe = this.probe;
    if (!this.upgrading || probe === null || this.pollInFlight || this.postInFlight) return;
    this.upgrading = false;
    this.probe = null;
    this.polling = false;
    probe.send(UPGRADE);
    this.transport = 'websocket';
    this.ws = probe;
    this.listen(probe);
    this.emitLocal('upgrade', 'websocket');
    this.flush();
  }

  // -- sending

  sendPacket(packet: EngineData): void {
    if (this.readyState === 'closed') return;
    this.writeBuffer.push(packet);
    this.flush();
  }

  /** A message packet: text gets the message type digit, binary goes as it is. */
  send(data: EngineData): void {
    this.sendPacket(typeof data === 'string' ? encodeTextPacket(EnginePacketType.Message, data) : data);
  }

  private flush(): void {
    if (this.readyState !== 'open') return;
    if (this.transport === 'websocket') {
      const ws = this.ws;
      if (ws === null || ws.readyState !== 1) return;
      for (const packet of this.writeBuffer.splice(0)) ws.send(packet as string | Uint8Array<ArrayBuffer>);
    } else if (!this.upgrading) {
      this.flushPolling();
    }
  }

  get writable(): boolean {
    return this.readyState === 'open' && (this.transport === 'websocket' ? this.ws?.readyState === 1 : !this.postInFlight);
  }

  /** Closes on purpose: the close packet, then nothing. */
  close(): void {
    if (this.readyState === 'closed') return;
    if (this.readyState === 'open') {
      if (this.transport === 'websocket' && this.ws?.readyState === 1) {
        this.ws.send(CLOSE);
      } else if (this.transport === 'polling') {
        // What is still buffered (a DISCONNECT, say) goes first, in the same POST, after the one in flight.
        const body = encodePayload([...this.writeBuffer.map(pollingText), CLOSE]);
        const url = this.url('polling', false);
        // The held poll stays until the server has the close packet (it answers the poll then):
        // a poll dropped first is a transport error to Engine.IO, which would end the session
        // before the close arrives, and answer that 400.
        const heldPoll = this.pollAbort;
        this.pollAbort = null;
        this.closePost = () => {
          void fetch(url, { method: 'POST', body, cache: 'no-store' }).catch(() => {}).finally(() => heldPoll?.abort());
        };
        if (!this.postInFlight) this.sendClosePost();
      }
    }
    this.onClose('io client disconnect');
  }

  private onClose(reason: string): void {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.polling = false;
    this.upgrading = false;
    if (this.pingTimer !== null) clearTimeout(this.pingTimer);
    this.pollAbort?.abort();
    for (const ws of [this.ws, this.probe]) {
      if (ws === null) continue;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(); } catch { /* already closed */ }
    }
    this.ws = this.probe = null;
    this.writeBuffer = [];
    this.emitLocal('close', reason);
  }
}
