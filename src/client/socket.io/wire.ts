/**
 * What the browser client does to packets, without the browser: the server's
 * own codecs (src/protocol/) applied the client's way. Runs in Node too, where
 * test/client/ checks it on vectors.
 */
import { encodeBase64Packet, encodePayload } from '../../protocol/engine-io-packet.js';
import { encodePacket, type SocketPacket } from '../../protocol/socket-io-packet.js';

/** An Engine.IO packet waiting to be sent: text with its type digit, or the bytes of a binary message. */
export type EngineData = string | Uint8Array;

/** Binary messages as socket.io-client hands them out: ArrayBuffers of their own (copied only if the bytes share one). */
export function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  // A copy by the constructor: a Buffer's slice() would share its pool.
  return whole ? (bytes.buffer as ArrayBuffer) : new Uint8Array(bytes).buffer;
}

/** A packet as long-polling carries it: binary as "b" + base64. */
export function pollingText(packet: EngineData): string {
  return typeof packet === 'string' ? packet : encodeBase64Packet(packet);
}

/**
 * Takes the packets of one POST off the front of `queue`: as many as stay
 * under the server's maxPayload (one packet alone may be bigger; the server
 * decides). Returns the body.
 */
export function takeBatch(queue: EngineData[], maxPayload: number): string {
  const parts: string[] = [];
  let size = 0;
  while (queue.length > 0) {
    const text = pollingText(queue[0]!);
    if (parts.length > 0 && size + text.length + 1 > maxPayload) break;
    parts.push(text);
    size += text.length + 1;
    queue.shift();
  }
  return encodePayload(parts);
}

/** A Socket.IO packet as the Engine.IO messages that carry it: its text, then its attachments. */
export function socketMessages(packet: SocketPacket): EngineData[] {
  const { text, attachments } = encodePacket(packet);
  return [text, ...attachments];
}

export interface Backoff {
  reconnectionDelay: number;
  reconnectionDelayMax: number;
  randomizationFactor: number;
}

/** The wait before reconnection attempt `attempts` + 1: exponential, with jitter, capped; as socket.io-client's. */
export function backoffDelay(opts: Backoff, attempts: number, random: number): number {
  const base = opts.reconnectionDelay * Math.pow(2, attempts);
  const jitter = opts.randomizationFactor;
  const spread = jitter > 0 ? (random * 2 - 1) * jitter * base : 0;
  return Math.min(Math.max(0, base + spread), opts.reconnectionDelayMax);
}
