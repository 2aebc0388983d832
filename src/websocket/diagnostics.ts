import diagnosticsChannel from 'node:diagnostics_channel';
import type { Duplex } from 'node:stream';

/**
 * Diagnostics channels of the WebSocket layer, as undici publishes its own:
 * observers (metrics, tracing) subscribe without the WebSocket code knowing
 * them, and a channel nobody listens to costs one property read.
 */

/** Published when a WebSocket opens: `{ socket, isServer }`. */
export const websocketOpenChannel = diagnosticsChannel.channel('pushwire:websocket:open');
/** Published when a WebSocket has closed: `{ socket, isServer, code }` (1006 when no close frame came). */
export const websocketCloseChannel = diagnosticsChannel.channel('pushwire:websocket:close');

export interface WebSocketOpenMessage {
  socket: Duplex;
  isServer: boolean;
}

export interface WebSocketCloseMessage extends WebSocketOpenMessage {
  code: number;
}
