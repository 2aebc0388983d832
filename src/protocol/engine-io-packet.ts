/**
 * Engine.IO v4 packets (docs/PROTOCOL.md §5.1): pure functions over strings
 * and bytes, no I/O. A packet is a type digit and its data; over WebSocket
 * each packet is one message, over HTTP long-polling several packets are
 * joined by the record separator (U+001E) in one text body, binary ones as
 * "b" + base64. Loaded by the server and by the browser client: bytes are
 * Buffers on the one, Uint8Arrays on the other (./bytes.ts).
 */
import { fromBase64, toBase64, type Bytes } from './bytes.js';

/** The packet types, by their digit on the wire. */
export const EnginePacketType = {
  Open: 0,
  Close: 1,
  Ping: 2,
  Pong: 3,
  Message: 4,
  Upgrade: 5,
  Noop: 6,
} as const;
export type EnginePacketType = (typeof EnginePacketType)[keyof typeof EnginePacketType];

/** Joins packets in a long-polling body: ASCII "record separator". */
export const RECORD_SEPARATOR = '\x1e';
const SEPARATOR_CODE = 0x1e;

export interface EnginePacket {
  readonly type: EnginePacketType;
  /** Text after the type digit ('' when none); the bytes of a binary message. */
  readonly data: string | Bytes;
}

/** Input that is not an Engine.IO packet: the session is closed for it. */
export class EngineParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineParseError';
  }
}

// RFC 4648 §4 alphabet; padding optional (some encoders drop it).
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/** The text of one packet: its type digit, then its data. */
export function encodeTextPacket(type: EnginePacketType, data = ''): string {
  return String.fromCharCode(48 + type) + data;
}

/** A binary message as long-polling carries it: "b" + base64. */
export function encodeBase64Packet(data: Uint8Array): string {
  return 'b' + toBase64(data);
}

/**
 * Decodes one packet from text: a WebSocket text message, or one part of a
 * long-polling body. "b…" is a base64 binary message. Throws EngineParseError.
 */
export function decodeTextPacket(text: string): EnginePacket {
  if (text.length === 0) throw new EngineParseError('empty packet');
  const code = text.charCodeAt(0);
  if (code === 0x62 /* b */) {
    const base64 = text.slice(1);
    if (!BASE64.test(base64)) throw new EngineParseError('bad base64 in a binary packet');
    return { type: EnginePacketType.Message, data: fromBase64(base64) };
  }
  const type = code - 48;
  if (type < EnginePacketType.Open || type > EnginePacketType.Noop) {
    throw new EngineParseError(`unknown packet type ${JSON.stringify(text[0])}`);
  }
  return { type: type as EnginePacketType, data: text.length === 1 ? '' : text.slice(1) };
}

/** A WebSocket binary message is a message packet with no type byte. */
export function decodeBinaryPacket(data: Bytes): EnginePacket {
  return { type: EnginePacketType.Message, data };
}

/** Joins encoded packets into one long-polling body. */
export function encodePayload(packets: readonly string[]): string {
  return packets.length === 1 ? packets[0]! : packets.join(RECORD_SEPARATOR);
}

/**
 * Splits a long-polling body into packets. Any bad packet makes the whole
 * body bad: Engine.IO closes the session rather than act on part of it.
 */
export function decodePayload(body: string): EnginePacket[] {
  const packets: EnginePacket[] = [];
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    if (i === body.length || body.charCodeAt(i) === SEPARATOR_CODE) {
      packets.push(decodeTextPacket(body.slice(start, i)));
      start = i + 1;
    }
  }
  return packets;
}

/** The open packet's data (the handshake), as the server sends it. */
export interface OpenHandshake {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}

export function encodeOpenPacket(handshake: OpenHandshake): string {
  return encodeTextPacket(EnginePacketType.Open, JSON.stringify(handshake));
}

/** Engine.IO's HTTP error codes, and the message each is answered with. */
export const EngineErrorCode = {
  UnknownTransport: 0,
  UnknownSid: 1,
  BadHandshakeMethod: 2,
  BadRequest: 3,
  Forbidden: 4,
  UnsupportedProtocolVersion: 5,
} as const;
export type EngineErrorCode = (typeof EngineErrorCode)[keyof typeof EngineErrorCode];

export const ENGINE_ERROR_MESSAGES: Readonly<Record<EngineErrorCode, string>> = {
  [EngineErrorCode.UnknownTransport]: 'Transport unknown',
  [EngineErrorCode.UnknownSid]: 'Session ID unknown',
  [EngineErrorCode.BadHandshakeMethod]: 'Bad handshake method',
  [EngineErrorCode.BadRequest]: 'Bad request',
  [EngineErrorCode.Forbidden]: 'Forbidden',
  [EngineErrorCode.UnsupportedProtocolVersion]: 'Unsupported protocol version',
};

/** The JSON body of an error answer: `{"code":n,"message":"..."}`. */
export function engineErrorBody(code: EngineErrorCode): string {
  return JSON.stringify({ code, message: ENGINE_ERROR_MESSAGES[code] });
}
