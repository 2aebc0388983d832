/**
 * Socket.IO v5 packets (docs/PROTOCOL.md §5.3), carried in Engine.IO message
 * packets: pure functions and a small state machine, no I/O.
 *
 *     <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
 *
 * A packet whose data holds binary values is sent as BINARY_EVENT or
 * BINARY_ACK: each binary value is replaced by {"_placeholder":true,"num":i}
 * and follows the text as its own binary Engine.IO message, in order.
 * Loaded by the server and by the browser client (./bytes.ts).
 */
import { bytesOf, type Bytes } from './bytes.js';

export const SocketPacketType = {
  Connect: 0,
  Disconnect: 1,
  Event: 2,
  Ack: 3,
  ConnectError: 4,
  BinaryEvent: 5,
  BinaryAck: 6,
} as const;
export type SocketPacketType = (typeof SocketPacketType)[keyof typeof SocketPacketType];

/** A decoded packet. Binary packets come out as Event or Ack with their buffers in place. */
export interface SocketPacket {
  type: SocketPacketType;
  /** '/' for the main namespace. */
  nsp: string;
  /** The acknowledgement id, when the sender wants one (Event) or answers one (Ack). */
  id?: number;
  data?: unknown;
}

/** Event names a peer may not send: they mean something to the Socket.IO APIs themselves. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  'connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener',
]);

/** Default bound on the attachments of one packet (as socket.io-parser's maxAttachments). */
export const MAX_ATTACHMENTS = 10;

/** Input that is not a Socket.IO packet: the connection is closed for it. */
export class SocketParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SocketParseError';
  }
}

export type BinaryValue = Bytes | ArrayBuffer | ArrayBufferView;

export function isBinary(value: unknown): value is BinaryValue {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** Whether a value holds a binary value anywhere (what makes an event a BINARY_EVENT). */
export function hasBinary(value: unknown, viaToJson = false): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (isBinary(value)) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasBinary(value[i])) return true;
    return false;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function' && !viaToJson) return hasBinary(toJSON.call(value), true);
  for (const key in value) {
    if (Object.prototype.hasOwnProperty.call(value, key) && hasBinary((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** Replaces every binary value by its placeholder, collecting the buffers in order. */
export function deconstruct(value: unknown, buffers: Bytes[], viaToJson = false): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (isBinary(value)) {
    buffers.push(bytesOf(value));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(value)) return value.map((v) => deconstruct(v, buffers));
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function' && !viaToJson) return deconstruct(toJSON.call(value), buffers, true);
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (Object.prototype.hasOwnProperty.call(value, key)) out[key] = deconstruct((value as Record<string, unknown>)[key], buffers);
  }
  return out;
}

/** Puts the buffers back where their placeholders are. Throws for a placeholder with no buffer. */
export function reconstruct<B>(value: unknown, buffers: readonly B[]): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reconstruct(value[i], buffers);
    return value;
  }
  const record = value as Record<string, unknown>;
  if (record._placeholder === true) {
    const num = record.num;
    if (typeof num !== 'number' || !Number.isInteger(num) || num < 0 || num >= buffers.length) {
      throw new SocketParseError('a placeholder names no attachment');
    }
    return buffers[num];
  }
  for (const key in record) {
    if (Object.prototype.hasOwnProperty.call(record, key)) record[key] = reconstruct(record[key], buffers);
  }
  return record;
}

/** The text of a packet whose data is already JSON (a broadcast encodes its data once). */
export function encodePacketText(type: SocketPacketType, nsp: string, id: number | undefined, dataJson: string | undefined, attachments = 0): string {
  let text = String.fromCharCode(48 + type);
  if (type === SocketPacketType.BinaryEvent || type === SocketPacketType.BinaryAck) text += `${attachments}-`;
  if (nsp !== '/') text += nsp + ',';
  if (id !== undefined) text += id;
  if (dataJson !== undefined) text += dataJson;
  return text;
}

export interface EncodedPacket {
  text: string;
  /** The binary attachments, sent after the text in this order (empty for most packets). */
  attachments: Bytes[];
}

const NO_ATTACHMENTS: Bytes[] = [];

/** Encodes a packet; an Event or Ack whose data holds binary values becomes a binary packet. */
export function encodePacket(packet: SocketPacket): EncodedPacket {
  let { type } = packet;
  let data = packet.data;
  let attachments = NO_ATTACHMENTS;
  if ((type === SocketPacketType.Event || type === SocketPacketType.Ack) && hasBinary(data)) {
    attachments = [];
    data = deconstruct(data, attachments);
    type = type === SocketPacketType.Event ? SocketPacketType.BinaryEvent : SocketPacketType.BinaryAck;
  }
  const json = data === undefined ? undefined : JSON.stringify(data);
  return { text: encodePacketText(type, packet.nsp, packet.id, json, attachments.length), attachments };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return Object.prototype.toString.call(value) === '[object Object]';
}

function checkData(type: SocketPacketType, data: unknown): void {
  switch (type) {
    case SocketPacketType.Connect:
      if (data === undefined || isPlainObject(data)) return;
      throw new SocketParseError('CONNECT data must be an object');
    case SocketPacketType.Disconnect:
      if (data === undefined) return;
      throw new SocketParseError('DISCONNECT has no data');
    case SocketPacketType.Event:
    case SocketPacketType.BinaryEvent: {
      if (!Array.isArray(data) || data.length === 0) throw new SocketParseError('EVENT data must be a non-empty array');
      const name = data[0];
      if (typeof name === 'number') return;
      if (typeof name !== 'string') throw new SocketParseError('an event name must be a string');
      if (RESERVED_EVENTS.has(name)) throw new SocketParseError(`"${name}" is a reserved event name`);
      return;
    }
    case SocketPacketType.Ack:
    case SocketPacketType.BinaryAck:
      if (Array.isArray(data)) return;
      throw new SocketParseError('ACK data must be an array');
    case SocketPacketType.ConnectError:
      if (typeof data === 'string' || isPlainObject(data)) return;
      throw new SocketParseError('CONNECT_ERROR data must be a string or an object');
  }
}

/** A binary packet's text, decoded, waiting for its attachments. */
export interface PacketHead {
  packet: SocketPacket;
  /** Attachments that follow (0 for a text packet). */
  attachments: number;
}

const DIGIT_0 = 48;
const DIGIT_9 = 57;

/**
 * Decodes a packet's text. A binary packet comes back with its attachment
 * count and placeholders still in its data. Throws SocketParseError.
 */
export function decodePacketText(text: string, maxAttachments = MAX_ATTACHMENTS): PacketHead {
  const type = text.charCodeAt(0) - DIGIT_0;
  if (!(type >= 0 && type <= 6)) throw new SocketParseError('unknown packet type');
  let i = 1;
  let attachments = 0;
  const binary = type === SocketPacketType.BinaryEvent || type === SocketPacketType.BinaryAck;
  if (binary) {
    const start = i;
    while (i < text.length && text.charCodeAt(i) >= DIGIT_0 && text.charCodeAt(i) <= DIGIT_9) i++;
    if (i === start || i - start > 6 || text[i] !== '-') throw new SocketParseError('bad attachment count');
    attachments = Number(text.slice(start, i));
    if (attachments < 1) throw new SocketParseError('bad attachment count');
    if (attachments > maxAttachments) throw new SocketParseError(`more than ${maxAttachments} attachments`);
    i++;
  }
  let nsp = '/';
  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    const end = comma === -1 ? text.length : comma;
    nsp = text.slice(i, end);
    i = comma === -1 ? end : end + 1;
  }
  let id: number | undefined;
  const idStart = i;
  while (i < text.length && text.charCodeAt(i) >= DIGIT_0 && text.charCodeAt(i) <= DIGIT_9) i++;
  if (i > idStart) {
    id = Number(text.slice(idStart, i));
    if (!Number.isSafeInteger(id)) throw new SocketParseError('ack id out of range');
  }
  let data: unknown;
  if (i < text.length) {
    try {
      data = JSON.parse(text.slice(i));
    } catch {
      throw new SocketParseError('packet data is not JSON');
    }
  }
  checkData(type as SocketPacketType, data);
  if ((type === SocketPacketType.Ack || type === SocketPacketType.BinaryAck) && id === undefined) {
    throw new SocketParseError('ACK without an id');
  }
  const folded = type === SocketPacketType.BinaryEvent ? SocketPacketType.Event
    : type === SocketPacketType.BinaryAck ? SocketPacketType.Ack : type as SocketPacketType;
  const packet: SocketPacket = { type: folded, nsp };
  if (id !== undefined) packet.id = id;
  if (data !== undefined) packet.data = data;
  return { packet, attachments };
}

/**
 * Turns the Engine.IO messages of one connection into Socket.IO packets: a
 * text message is a packet, or the head of a binary one whose attachments
 * are the next binary messages. Sans-I/O: feed messages, get packets.
 * Attachments are put in place as they were fed (the browser client feeds
 * ArrayBuffers).
 */
export class SocketPacketDecoder<B = Bytes> {
  private head: PacketHead | null = null;
  private buffers: B[] = [];

  constructor(private readonly maxAttachments = MAX_ATTACHMENTS) {}

  /** Feeds one message; returns the packet it completes, or null while attachments are due. Throws SocketParseError. */
  add(message: string | B): SocketPacket | null {
    if (typeof message === 'string') {
      if (this.head !== null) throw new SocketParseError('text while attachments were due');
      const head = decodePacketText(message, this.maxAttachments);
      if (head.attachments === 0) return head.packet;
      this.head = head;
      return null;
    }
    if (this.head === null) throw new SocketParseError('binary data that no packet announced');
    this.buffers.push(message);
    if (this.buffers.length < this.head.attachments) return null;
    const { packet } = this.head;
    const buffers = this.buffers;
    this.head = null;
    this.buffers = [];
    try {
      packet.data = reconstruct(packet.data, buffers);
    } catch (err) {
      // A stack overflow on absurd nesting is bad input like any other.
      if (err instanceof SocketParseError) throw err;
      throw new SocketParseError('attachments could not be put in place');
    }
    return packet;
  }

  /** Attachments still due (a connection closing mid-packet drops them). */
  get pending(): boolean {
    return this.head !== null;
  }
}
