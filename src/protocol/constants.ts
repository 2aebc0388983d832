/** RFC 6455 §1.3: appended to Sec-WebSocket-Key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** RFC 6455 §5.2 opcodes. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** RFC 6455 §7.4.1 and the IANA "WebSocket Close Code Number" registry. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatus: 1005, // never on the wire: "no code in the close frame"
  Abnormal: 1006, // never on the wire: "TCP closed without a close frame"
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
} as const;

/** RFC 6455 §5.5: control frame payloads are at most 125 bytes. */
export const MAX_CONTROL_PAYLOAD = 125;
/** The default --max-message (docs/PROTOCOL.md §1.5). */
export const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
