// The library's public API.

// WebSocket (RFC 6455) and permessage-deflate (RFC 7692).
export { WebSocket, type WebSocketEvents, type SendData, type SendCallback, type WebSocketOptions } from './websocket/websocket.js';
export {
  Event, MessageEvent, CloseEvent, ErrorEvent, type BinaryType, type WebSocketEventMap, type EventListenerOf,
} from './websocket/event-target.js';
export { WebSocketServer, type WebSocketServerEvents, type WebSocketServerOptions, type Refusal } from './websocket/server.js';
export { connect, type ClientOptions } from './websocket/client.js';
export { PreparedMessage } from './websocket/permessage-deflate.js';
export { setZlibConcurrency } from './websocket/zlib-limiter.js';
export { type DeflateOptions } from './protocol/deflate-params.js';

// The sans-I/O protocol core, for those who bring their own I/O.
export { CloseCode, Opcode } from './protocol/constants.js';
export { ProtocolError } from './protocol/errors.js';
export { encodeFrame, encodeTextFrame, encodeHeader } from './protocol/frame-encoder.js';
export { FrameDecoder, type FrameHandler, type FrameDecoderOptions } from './protocol/frame-decoder.js';
export { acceptKey, checkUpgradeRequest } from './protocol/handshake.js';

// Server push: the channel log and the five techniques, mounted on a Router.
export {
  mountPush, EventRefused, PushMessage, PUSH_DEFAULTS,
  type PushApi, type PushClient, type PushOptions, type PushStats, type EventHandler, type ChannelLog, type ReadResult,
} from './push/index.js';
export { Router, type RequestHandler, type UpgradeHandler } from './http/router.js';

// The whole server of `node dist/server.js`.
export { createPushwireServer, type PushwireServer, type PushwireServerOptions } from './pushwire-server.js';
export { DEFAULTS, parseConfig, type ServerConfig } from './config.js';
