// Socket.IO v5 over Engine.IO v4 (docs/PROTOCOL.md §5): the server, in socket.io's shape.
export { Server, type ServerOptions } from './server.js';
export { Namespace, type Middleware, type MiddlewareError } from './namespace.js';
export { Socket, type Handshake, type AckCallback, type EventMiddleware } from './socket.js';
export { BroadcastOperator } from './broadcast.js';
export { EngineServer, ENGINE_DEFAULTS, type EngineOptions } from './engine-server.js';
export type { EngineSession, EngineSettings } from './engine-session.js';
export type { RecoveryOptions } from './recovery.js';
export { NAMESPACE_ROOM, channelOfRoom } from './room-channels.js';
