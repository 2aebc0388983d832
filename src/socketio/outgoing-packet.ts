import { encodeBase64Packet } from '../protocol/engine-io-packet.js';
import { PreparedMessage } from '../websocket/prepared-message.js';

/**
 * One Engine.IO packet on its way out, in the forms the transports need: a
 * WebSocket message (text, or binary for an attachment) and a part of a
 * long-polling body. A broadcast makes one and hands the same object to every
 * session, so its WebSocket frame and its polling text are built once.
 */
export class OutgoingPacket {
  /** Engine.IO text ("4…", "2", …), or null for a binary message. */
  readonly text: string | null;
  readonly binary: Buffer | null;
  /** Sent to many sessions: worth preparing the frame once. */
  readonly shared: boolean;
  private prepared: PreparedMessage | null = null;
  private base64: string | null = null;

  constructor(text: string | null, binary: Buffer | null, shared = false) {
    this.text = text;
    this.binary = binary;
    this.shared = shared;
  }

  static text(text: string, shared = false): OutgoingPacket {
    return new OutgoingPacket(text, null, shared);
  }

  static binary(data: Buffer, shared = false): OutgoingPacket {
    return new OutgoingPacket(null, data, shared);
  }

  /** Its part of a polling body: the text, or "b" + base64 for binary. */
  get pollingText(): string {
    return this.text ?? (this.base64 ??= encodeBase64Packet(this.binary!));
  }

  /** Bytes it costs in a send queue (near enough for a bound). */
  get size(): number {
    return this.text !== null ? this.text.length : this.binary!.length;
  }

  /** The WebSocket message, framed once for every receiver. */
  message(): PreparedMessage {
    return (this.prepared ??= this.text !== null ? new PreparedMessage(this.text) : new PreparedMessage(this.binary!, true));
  }
}
