import { CloseCode } from '../protocol/constants.js';
import { decodeBinaryPacket, decodeTextPacket, EngineParseError } from '../protocol/engine-io-packet.js';
import type { WebSocket } from '../websocket/websocket.js';
import type { OutgoingPacket } from './outgoing-packet.js';
import type { Transport, TransportEnd, TransportOwner } from './transport.js';

/**
 * Engine.IO over one WebSocket (docs/PROTOCOL.md §5.1): each packet is one
 * message, text packets as text frames and binary messages as binary frames
 * with no type byte. A message over maxPayload closes the WebSocket (1009),
 * and with it the session.
 */
export class WebSocketTransport implements Transport {
  readonly name = 'websocket';
  owner: TransportOwner;
  private closed = false;

  constructor(readonly ws: WebSocket, owner: TransportOwner) {
    this.owner = owner;
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('close', () => this.gone('transport close'));
    ws.on('error', () => this.gone('transport error'));
  }

  get writable(): boolean {
    return !this.closed;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    let packet;
    try {
      packet = isBinary ? decodeBinaryPacket(data) : decodeTextPacket(data.toString('utf8'));
    } catch (err) {
      if (!(err instanceof EngineParseError)) throw err;
      this.owner.onTransportClose(this, 'parse error');
      return;
    }
    this.owner.onTransportPacket(this, packet);
  }

  private gone(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.onTransportClose(this, reason);
  }

  send(packets: readonly OutgoingPacket[]): void {
    for (let i = 0; i < packets.length; i++) this.sendOne(packets[i]!);
  }

  sendOne(packet: OutgoingPacket): void {
    if (this.closed) return;
    // A broadcast's frame is built once and written to every socket.
    if (packet.shared) this.ws.sendPrepared(packet.message());
    else if (packet.text !== null) this.ws.send(packet.text);
    else this.ws.send(packet.binary!);
  }

  close(end: TransportEnd): void {
    if (this.closed) return;
    this.closed = true;
    if (end === 'shutdown') this.ws.close(CloseCode.GoingAway);
    else this.ws.close();
  }
}
