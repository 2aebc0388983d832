import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CloseCode } from '../protocol/constants.js';
import { Connection, ReadyState } from './connection.js';
import type { PerMessageDeflate, PreparedMessage } from './permessage-deflate.js';

export { destroySocket } from './connection.js';

export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;
export type SendCallback = (err?: Error | null) => void;

export interface WebSocketOptions {
  /** Server end of the connection: expects masked frames and sends unmasked ones. */
  isServer: boolean;
  /** Largest message accepted, in bytes; larger ones close with 1009. */
  maxPayload?: number;
  /** How long to wait for the peer's close frame, or for its TCP close, before destroying the socket. */
  closeTimeout?: number;
}

/** The events of a WebSocket and their listeners' arguments (node's EventEmitter<Events> types `on`, `emit`, …). */
export interface WebSocketEvents {
  open: [];
  message: [data: Buffer, isBinary: boolean];
  ping: [data: Buffer];
  pong: [data: Buffer];
  close: [code: number, reason: Buffer];
  drain: [];
  error: [error: Error];
}

/** Reaches a WebSocket's connection from this module's functions; the object itself shows only the API. */
let connectionOf: (ws: WebSocket) => Connection;

/**
 * One WebSocket connection, with the event and method names of `ws` and the
 * browser's WebSocket. The protocol itself (decoder callbacks, send queue,
 * closing handshake) is a private Connection, so that this object holds only
 * the public API.
 *
 * Events: 'open', 'message' (data: Buffer, isBinary), 'ping' (data), 'pong' (data),
 * 'close' (code, reason: Buffer), 'drain', 'error' (only emitted when listened to).
 */
export class WebSocket extends EventEmitter<WebSocketEvents> {
  static readonly CONNECTING = ReadyState.Connecting;
  static readonly OPEN = ReadyState.Open;
  static readonly CLOSING = ReadyState.Closing;
  static readonly CLOSED = ReadyState.Closed;

  static {
    connectionOf = (ws) => ws.#conn;
  }

  /** Set by pongs; the server's heartbeat clears it before each ping. */
  isAlive = true;
  readonly #conn: Connection;

  constructor(options: WebSocketOptions) {
    super();
    this.#conn = new Connection(this, options);
  }

  get readyState(): number {
    return this.#conn.readyState;
  }

  /** Subprotocol the server selected ('' for none). */
  get protocol(): string {
    return this.#conn.protocol;
  }

  /** Sec-WebSocket-Extensions value that was agreed ('' for none). */
  get extensions(): string {
    return this.#conn.extensions;
  }

  /** Bytes accepted by send() and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.#conn.bufferedAmount;
  }

  /** Sends a message: strings as text, anything else as binary unless options.binary says otherwise. */
  send(data: SendData, options?: { binary?: boolean } | SendCallback, cb?: SendCallback): boolean {
    return this.#conn.send(data, options, cb);
  }

  /** Writes bytes that are already a complete server frame (a broadcast framed once for all clients). */
  sendFrame(frame: Buffer, cb?: SendCallback): boolean {
    return this.#conn.sendFrame(frame, cb);
  }

  /**
   * Sends a message prepared once for many receivers (a broadcast): its plain
   * frame is built once, and its compressed frame once per set of shared
   * compression settings (receivers whose server end resets context after
   * each message). Receivers with context takeover compress it themselves.
   */
  sendPrepared(message: PreparedMessage, cb?: SendCallback): boolean {
    return this.#conn.sendPrepared(message, cb);
  }

  ping(data?: SendData, cb?: SendCallback): void {
    this.#conn.ping(data, cb);
  }

  pong(data?: SendData, cb?: SendCallback): void {
    this.#conn.pong(data, cb);
  }

  /**
   * Starts the closing handshake (§7.1.2): sends a close frame and waits for
   * the peer's, then the TCP connection is closed (by the server end), or
   * destroyed after closeTimeout.
   */
  close(code: number = CloseCode.NoStatus, reason?: string | Buffer): void {
    this.#conn.close(code, reason);
  }

  /** Destroys the socket at once, with no closing handshake. */
  terminate(): void {
    this.#conn.terminate();
  }
}

/**
 * Hands a socket whose opening handshake is done to a WebSocket (the last
 * step of the server and of the client); `head` holds bytes read past the
 * handshake, `deflate` the codec when permessage-deflate was agreed.
 */
export function attachSocket(ws: WebSocket, socket: Duplex, head: Buffer, protocol: string, extensions: string,
  deflate: PerMessageDeflate | null): void {
  connectionOf(ws).attach(socket, head, protocol, extensions, deflate);
}

/** The permessage-deflate codec a WebSocket agreed on, or null (for tests and diagnostics). */
export function deflateOf(ws: WebSocket): PerMessageDeflate | null {
  return connectionOf(ws).deflate;
}
