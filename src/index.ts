// The library's public API.

// WebSocket (RFC 6455) and permessage-deflate (RFC 7692).
export { WebSocket, type WebSocketEvents, type SendData, type SendCallback, type WebSocketOptions } from './websocket/websocket.js';
export {
  Event, MessageEvent, CloseEvent, ErrorEvent, type BinaryType, type WebSocketEventMap, type EventListenerOf,
} from './websocket/event-target.js';
export { WebSocketServer, type WebSocketServerEvents, type WebSocketServerOptions, type Refusal } from './websocket/server.js';
export { connect, type ClientOptions } from './websocket/client.js';
export { PreparedMessage } from './websocket/prepared-message.js';
export { WriteBatch, type BatchTarget } from './http/write-batch.js';
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
  mountPush, EventRefused, PushMessage, PUSH_DEFAULTS, Forbidden, AuthorizationRefused, PushRequest, LimitRefused,
  type PushAuthorizer, type Technique, type Verdict,
  type PushApi, type PushClient, type PushOptions, type PushStats, type EventHandler, type ChannelLog, type ReadResult,
  type ChannelList, type ChannelSubscription,
} from './push/index.js';
export { Router, type RequestHandler, type UpgradeHandler } from './http/router.js';

// The channel log behind an asynchronous interface, and shared by several servers on Redis.
export { asyncLog, LogUnavailableError, type AsyncChannelLog, type Subscriber } from './push/log.js';
export { follow, Following, type FollowResult } from './push/follow.js';
export { MemoryChannelLog } from './push/channel-log.js';
export { RedisChannelLog, type RedisCommandClient, type RedisSubscriberClient, type RedisLogOptions } from './push/redis-log.js';
// Socket.IO v5 over Engine.IO v4, in socket.io's shape; rooms are channels of the log.
export {
  Server, Namespace, Socket, BroadcastOperator, EngineServer,
  type ServerOptions, type Middleware, type MiddlewareError, type Handshake, type AckCallback, type EventMiddleware,
  type EngineOptions, type RecoveryOptions,
} from './socketio/index.js';

// The whole server of `node dist/server.js`.
export { createPushwireServer, type PushwireServer, type PushwireServerOptions } from './pushwire-server.js';
export { DEFAULTS, OPERATION_DEFAULTS, parseConfig, type ServerConfig } from './config.js';

// Operations: metrics in the Prometheus text format, the Origin rule.
export { MetricsRegistry, Counter, Gauge, CounterChild, GaugeChild, EXPOSITION_CONTENT_TYPE, type MetricOptions } from './metrics/registry.js';
export { parseAllowedOrigins, originRefusal, DEFAULT_ALLOWED_ORIGINS, type OriginPolicy } from './http/origin.js';
