import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CloseCode, DEFAULT_MAX_MESSAGE, Opcode } from '../protocol/constants.js';
import { FrameDecoder, type FrameHandler } from '../protocol/frame-decoder.js';
import { encodeFrame, encodeHeader, encodeTextFrame, MERGE_LIMIT, nextMaskKey } from '../protocol/frame-encoder.js';
import { encodeClosePayload, isValidCloseCode } from '../protocol/close.js';
import type { ProtocolError } from '../protocol/errors.js';

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

const EMPTY = Buffer.alloc(0);

/**
 * One WebSocket connection: the sans-I/O codec wired to a socket, with the
 * event and method names of `ws` and the browser's WebSocket.
 *
 * Events: 'open', 'message' (data: Buffer, isBinary), 'ping' (data), 'pong' (data),
 * 'close' (code, reason: Buffer), 'drain', 'error' (only emitted when listened to).
 */
export class WebSocket extends EventEmitter implements FrameHandler {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  readyState: number = WebSocket.CONNECTING;
  /** Subprotocol the server selected ('' for none). */
  protocol = '';
  /** Sec-WebSocket-Extensions value that was agreed ('' for none). */
  extensions = '';
  /** Set by pongs; the server's heartbeat clears it before each ping. */
  isAlive = true;

  readonly isServer: boolean;
  readonly maxPayload: number;
  private readonly closeTimeout: number;
  private socket: Duplex | null = null;
  private decoder: FrameDecoder | null = null;
  private closeSent = false;
  private closeReceived = false;
  /** Reported by 'close': the code received, or the one we failed with; 1006 if neither. */
  private closeCode: number = CloseCode.Abnormal;
  private closeReason: Buffer = EMPTY;
  private closeTimer: NodeJS.Timeout | null = null;

  constructor(options: WebSocketOptions) {
    super();
    this.isServer = options.isServer;
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_MESSAGE;
    this.closeTimeout = options.closeTimeout ?? 5000;
  }

  /** Bytes accepted by send() and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.socket ? this.socket.writableLength : 0;
  }

  /** Takes over a socket whose handshake is done; `head` holds bytes read past the handshake. */
  attach(socket: Duplex, head: Buffer, protocol = '', extensions = ''): void {
    this.socket = socket;
    this.protocol = protocol;
    this.extensions = extensions;
    this.decoder = new FrameDecoder(this, { expectMasked: this.isServer, maxMessageSize: this.maxPayload });
    const tcp = socket as Duplex & { setNoDelay?: (v: boolean) => void; setTimeout?: (ms: number) => void };
    tcp.setNoDelay?.(true);
    tcp.setTimeout?.(0);
    socket.on('data', (chunk: Buffer) => this.decoder!.push(chunk));
    socket.on('end', () => this.onSocketEnd());
    socket.on('close', () => this.onSocketClose());
    socket.on('error', () => socket.destroy());
    socket.on('drain', () => this.emit('drain'));
    this.readyState = WebSocket.OPEN;
    if (head.length > 0) this.decoder.push(head);
    this.emit('open');
  }

  /** Sends a message: strings as text, anything else as binary unless options.binary says otherwise. */
  send(data: SendData, options?: { binary?: boolean } | SendCallback, cb?: SendCallback): boolean {
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    if (this.readyState !== WebSocket.OPEN) {
      if (cb) process.nextTick(cb, new Error('WebSocket is not open'));
      return false;
    }
    const maskKey = this.isServer ? null : nextMaskKey();
    if (typeof data === 'string' && options?.binary !== true) {
      return this.socket!.write(encodeTextFrame(data, true, false, maskKey), cb);
    }
    const payload = toBuffer(data);
    const opcode = options?.binary === false ? Opcode.Text : Opcode.Binary;
    return this.writeFrame(opcode, payload, maskKey, cb);
  }

  /** Writes bytes that are already a complete server frame (a broadcast framed once for all clients). */
  sendFrame(frame: Buffer, cb?: SendCallback): boolean {
    if (this.readyState !== WebSocket.OPEN) {
      if (cb) process.nextTick(cb, new Error('WebSocket is not open'));
      return false;
    }
    return this.socket!.write(frame, cb);
  }

  ping(data: SendData = EMPTY, cb?: SendCallback): void {
    this.control(Opcode.Ping, data, cb);
  }

  pong(data: SendData = EMPTY, cb?: SendCallback): void {
    this.control(Opcode.Pong, data, cb);
  }

  /**
   * Starts the closing handshake (§7.1.2): sends a close frame and waits for
   * the peer's, then the TCP connection is closed (by the server end), or
   * destroyed after closeTimeout.
   */
  close(code: number = CloseCode.NoStatus, reason: string | Buffer = EMPTY): void {
    if (this.readyState === WebSocket.CLOSED) return;
    if (this.readyState === WebSocket.CONNECTING) {
      this.terminate();
      return;
    }
    if (code !== CloseCode.NoStatus && !isValidCloseCode(code)) throw new RangeError(`invalid close code ${code}`);
    this.sendClose(code, reason);
    if (this.closeReceived) this.finishClose();
  }

  /** Destroys the socket at once, with no closing handshake. */
  terminate(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSING;
    if (this.socket) this.socket.destroy();
    else this.onSocketClose();
  }

  // FrameHandler: the decoder's reports.

  onMessage(data: Buffer, isBinary: boolean, _compressed: boolean): void {
    this.emit('message', data, isBinary);
  }

  onPing(payload: Buffer): void {
    if (this.readyState === WebSocket.OPEN) this.control(Opcode.Pong, payload);
    this.emit('ping', payload);
  }

  onPong(payload: Buffer): void {
    this.isAlive = true;
    this.emit('pong', payload);
  }

  onClose(code: number, reason: Buffer): void {
    this.closeReceived = true;
    this.closeCode = code;
    this.closeReason = reason;
    // §5.5.1: answer with a close frame echoing the code, then close.
    if (!this.closeSent) this.sendClose(code, EMPTY);
    this.finishClose();
  }

  onError(error: ProtocolError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    // §7.1.7 "Fail the WebSocket Connection": send the close code, then drop TCP.
    this.closeCode = error.closeCode;
    if (!this.closeSent) this.sendClose(error.closeCode, truncateReason(error.message));
    this.finishClose(true);
  }

  // Internals.

  private writeFrame(opcode: number, payload: Buffer, maskKey: Buffer | null, cb?: SendCallback): boolean {
    const socket = this.socket!;
    if (maskKey !== null || payload.length <= MERGE_LIMIT) {
      return socket.write(encodeFrame(opcode, payload, true, false, maskKey), cb);
    }
    // Large payload: header and payload leave in one writev, the payload uncopied.
    socket.cork();
    socket.write(encodeHeader(opcode, payload.length));
    const ok = socket.write(payload, cb);
    socket.uncork();
    return ok;
  }

  private control(opcode: number, data: SendData, cb?: SendCallback): void {
    if (this.readyState !== WebSocket.OPEN) {
      if (cb) process.nextTick(cb, new Error('WebSocket is not open'));
      return;
    }
    const payload = toBuffer(data);
    if (payload.length > 125) throw new RangeError('control frame payload must be at most 125 bytes');
    this.socket!.write(encodeFrame(opcode, payload, true, false, this.isServer ? null : nextMaskKey()), cb);
  }

  private sendClose(code: number, reason: string | Buffer): void {
    if (this.closeSent || !this.socket) return;
    this.closeSent = true;
    this.readyState = WebSocket.CLOSING;
    const payload = encodeClosePayload(code, reason);
    this.socket.write(encodeFrame(Opcode.Close, payload, true, false, this.isServer ? null : nextMaskKey()));
    this.armCloseTimer();
  }

  /**
   * The close frames are exchanged, or the connection failed. The server end
   * closes TCP first (§7.1.1); a client waits for it, as long as closeTimeout.
   */
  private finishClose(failed = false): void {
    if (!this.socket) return;
    if (this.isServer || failed) this.socket.end();
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.closeTimer || !this.socket) return;
    const socket = this.socket;
    this.closeTimer = setTimeout(() => socket.destroy(), this.closeTimeout);
    this.closeTimer.unref();
  }

  private onSocketEnd(): void {
    // The peer will send nothing more; finish our side too.
    this.readyState = WebSocket.CLOSING;
    this.socket?.end();
    this.armCloseTimer();
  }

  private onSocketClose(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSED;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.emit('close', this.closeCode, this.closeReason);
  }
}

function toBuffer(data: SendData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function truncateReason(message: string): Buffer {
  const bytes = Buffer.from(message);
  if (bytes.length <= 123) return bytes;
  // Cut on a character boundary so the reason stays valid UTF-8.
  let end = 123;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
