// The library's public API.
export { WebSocket, type SendData, type SendCallback, type WebSocketOptions } from './websocket/websocket.js';
export { WebSocketServer, type WebSocketServerOptions, type Refusal } from './websocket/server.js';
export { connect, type ClientOptions } from './websocket/client.js';
export { CloseCode, Opcode } from './protocol/constants.js';
export { ProtocolError } from './protocol/errors.js';
export { encodeFrame, encodeTextFrame, encodeHeader } from './protocol/frame-encoder.js';
export { FrameDecoder, type FrameHandler, type FrameDecoderOptions } from './protocol/frame-decoder.js';
export { acceptKey, checkUpgradeRequest } from './protocol/handshake.js';
export { createPushwireServer, type PushwireServer } from './pushwire-server.js';
export { mountPush, EventRefused, type PushApi, type PushClient, type PushOptions } from './push/index.js';
export { PreparedMessage } from './websocket/permessage-deflate.js';
export { setZlibConcurrency } from './websocket/zlib-limiter.js';
export { type DeflateOptions } from './protocol/deflate-params.js';
