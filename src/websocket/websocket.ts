import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CloseCode } from '../protocol/constants.js';
import { Connection, ReadyState } from './connection.js';
import {
  addEventListener, attributeListener, BINARY_TYPES, removeEventListener, setAttributeListener,
  type BinaryType, type CloseEvent, type ErrorEvent, type Event, type EventListenerOf, type MessageEvent, type WebSocketEventMap,
} from './event-target.js';
import type { PerMessageDeflate } from './deflate-codec.js';
import type { PreparedMessage } from './prepared-message.js';
import type { WriteBatch } from '../http/write-batch.js';


export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;
export type SendCallback = (err?: Error | null) => void;

export interface WebSocketOptions {
  /** Server end of the connection: expects masked frames and sends unmasked ones. */
  isServer: boolean;
  /** Largest message accepted, in bytes; larger ones close with 1009. */
  maxPayload?: number;
  /** How long to wait for the peer's close frame, or for its TCP close, before destroying the socket. */
  closeTimeout?: number;
  /** Client side: the URL connected to (the `url` property). */
  url?: string;
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
 * Node events: 'open', 'message' (data: Buffer, isBinary), 'ping' (data), 'pong' (data),
 * 'close' (code, reason: Buffer), 'drain', 'error' (only emitted when listened to).
 * Browser style, as in ws: `onopen`, `onmessage`, `onclose`, `onerror` and
 * addEventListener/removeEventListener, with event objects.
 */
export class WebSocket extends EventEmitter<WebSocketEvents> {
  static readonly CONNECTING = ReadyState.Connecting;
  static readonly OPEN = ReadyState.Open;
  static readonly CLOSING = ReadyState.Closing;
  static readonly CLOSED = ReadyState.Closed;

  static {
    connectionOf = (ws) => ws.#conn;
  }

  // The ready states on instances too, as in the browser (`ws.readyState === ws.OPEN`); defined on the prototype below.
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

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

  /** The URL a client connected to ('' on the server side). */
  get url(): string {
    return this.#conn.url;
  }

  /**
   * What `event.data` of a MessageEvent is for binary messages: 'nodebuffer'
   * (default, as in ws), 'arraybuffer' or 'blob'. Other values are ignored, as
   * in the browser. The 'message' event always passes a Buffer.
   */
  get binaryType(): BinaryType {
    return this.#conn.binaryType;
  }

  set binaryType(type: BinaryType) {
    if (BINARY_TYPES.includes(type)) this.#conn.binaryType = type;
  }

  get onopen(): ((event: Event) => void) | null {
    return attributeListener(this, 'open') as ((event: Event) => void) | null;
  }

  set onopen(listener: ((event: Event) => void) | null) {
    setAttributeListener(this, this.#conn, 'open', listener);
  }

  get onmessage(): ((event: MessageEvent) => void) | null {
    return attributeListener(this, 'message') as ((event: MessageEvent) => void) | null;
  }

  set onmessage(listener: ((event: MessageEvent) => void) | null) {
    setAttributeListener(this, this.#conn, 'message', listener);
  }

  get onclose(): ((event: CloseEvent) => void) | null {
    return attributeListener(this, 'close') as ((event: CloseEvent) => void) | null;
  }

  set onclose(listener: ((event: CloseEvent) => void) | null) {
    setAttributeListener(this, this.#conn, 'close', listener);
  }

  get onerror(): ((event: ErrorEvent) => void) | null {
    return attributeListener(this, 'error') as ((event: ErrorEvent) => void) | null;
  }

  set onerror(listener: ((event: ErrorEvent) => void) | null) {
    setAttributeListener(this, this.#conn, 'error', listener);
  }

  /** Adds a browser-style listener; the same listener twice is added once; `once` removes it after a call. */
  addEventListener<K extends keyof WebSocketEventMap>(type: K, listener: EventListenerOf<WebSocketEventMap[K]>,
    options?: { once?: boolean }): void {
    addEventListener(this, this.#conn, type, listener, options);
  }

  removeEventListener<K extends keyof WebSocketEventMap>(type: K, listener: EventListenerOf<WebSocketEventMap[K]>): void {
    removeEventListener(this, type, listener);
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

  /**
   * Broadcast writes (sendFrame and sendPrepared without a callback) wait in
   * `batch` until the end of the turn, then leave together in one write;
   * anything else sent meanwhile goes after them. null: each is written at once.
   */
  coalesceWrites(batch: WriteBatch | null): void {
    this.#conn.writeBatch = batch;
  }

  /**
   * Sends a ping (at most 125 bytes). ws's `ping(data, mask, cb)` works too; the
   * mask flag is ignored: a client always masks and a server never does (§5.1).
   */
  ping(data?: SendData, cb?: SendCallback): void;
  ping(data: SendData | undefined, mask: boolean | undefined, cb?: SendCallback): void;
  ping(data?: SendData, maskOrCb?: boolean | SendCallback, cb?: SendCallback): void {
    this.#conn.ping(data, typeof maskOrCb === 'function' ? maskOrCb : cb);
  }

  /** Sends an unsolicited pong; takes ws's `pong(data, mask, cb)` too, as ping() does. */
  pong(data?: SendData, cb?: SendCallback): void;
  pong(data: SendData | undefined, mask: boolean | undefined, cb?: SendCallback): void;
  pong(data?: SendData, maskOrCb?: boolean | SendCallback, cb?: SendCallback): void {
    this.#conn.pong(data, typeof maskOrCb === 'function' ? maskOrCb : cb);
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

for (const [name, value] of Object.entries(ReadyState)) {
  Object.defineProperty(WebSocket.prototype, name.toUpperCase(), { value, enumerable: true });
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

/** Client side: how close() or terminate() while connecting abandons the handshake. */
export function setHandshakeAbort(ws: WebSocket, abort: () => void): void {
  connectionOf(ws).abortHandshake = abort;
}

/** Client side: the opening handshake failed; 'error' (message), then 'close' 1006, as in ws. */
export function failHandshake(ws: WebSocket, message: string): void {
  connectionOf(ws).failHandshake(message);
}

/** The permessage-deflate codec a WebSocket agreed on, or null (for tests and diagnostics). */
export function deflateOf(ws: WebSocket): PerMessageDeflate | null {
  return connectionOf(ws).deflate;
}
