import type { Duplex } from 'node:stream';
import { CloseCode, DEFAULT_MAX_MESSAGE, Opcode } from '../protocol/constants.js';
import { FrameDecoder, type FrameHandler } from '../protocol/frame-decoder.js';
import { encodeFrame, encodeHeader, encodeTextFrame, MERGE_LIMIT, nextMaskKey } from '../protocol/frame-encoder.js';
import { encodeClosePayload, isValidCloseCode, truncateCloseReason } from '../protocol/close.js';
import { ProtocolError } from '../protocol/errors.js';
import { isValidUtf8 } from '../protocol/utf8.js';
import { destroySocket } from '../http/raw-socket.js';
import type { PerMessageDeflate } from './deflate-codec.js';
import type { PreparedMessage } from './prepared-message.js';
import { WriteBatch, type BatchTarget } from '../http/write-batch.js';
import { websocketCloseChannel, websocketOpenChannel } from './diagnostics.js';
import type { BinaryType } from './event-target.js';
import type { SendCallback, SendData, WebSocket, WebSocketOptions } from './websocket.js';

const EMPTY = Buffer.alloc(0);

/** A send waiting behind a compression in flight (permessage-deflate): order is kept. */
const enum SendKind { Frame, Compress, Prepared, Close }
interface QueuedSend {
  kind: SendKind;
  /** Frame and Close: the finished frame. Compress: the payload. Prepared: unused. */
  bytes: Buffer;
  opcode: number;
  prepared: PreparedMessage | null;
  cb: SendCallback | undefined;
}

/** The ready states, numbered as in the WebSocket interface. */
export const ReadyState = { Connecting: 0, Open: 1, Closing: 2, Closed: 3 } as const;

/**
 * The protocol of one WebSocket wired to its socket: the frame decoder's
 * handler, the send queue, permessage-deflate and the closing handshake.
 * The public WebSocket holds one and forwards to it; its events go out
 * through that WebSocket.
 */
export class Connection implements FrameHandler, BatchTarget {
  readyState: number = ReadyState.Connecting;
  /** Subprotocol the server selected ('' for none). */
  protocol = '';
  /** Sec-WebSocket-Extensions value that was agreed ('' for none). */
  extensions = '';
  /** permessage-deflate codec, when negotiated. */
  deflate: PerMessageDeflate | null = null;
  readonly url: string;
  /** How MessageEvents present binary data (the browser-style API). */
  binaryType: BinaryType = 'nodebuffer';
  /** Client side, while connecting: abandons the opening handshake (set by connect()). */
  abortHandshake: (() => void) | null = null;

  private readonly ws: WebSocket;
  private readonly isServer: boolean;
  private readonly maxPayload: number;
  private readonly closeTimeout: number;
  private socket: Duplex | null = null;
  private decoder: FrameDecoder | null = null;
  private closeSent = false;
  private closeReceived = false;
  /** Reported by 'close': the code received, or the one we failed with; 1006 if neither. */
  private closeCode: number = CloseCode.Abnormal;
  private closeReason: Buffer = EMPTY;
  private closeTimer: NodeJS.Timeout | null = null;
  /** null when idle; else sends waiting behind the compression in flight (which is `sending`). */
  private sendQueue: QueuedSend[] | null = null;
  private sending: QueuedSend | null = null;
  private queuedBytes = 0;
  private endAfterSend = false;
  private inflatingBinary = false;
  /** Reading stops while a message inflates, and while our replies wait for the peer to read them. */
  private inflating = false;
  private readBlocked = false;
  /** zlib callbacks, bound only when deflate is negotiated (idle plain connections are many). */
  private onInflated: ((err: ProtocolError | null, data: Buffer) => void) | null = null;
  private onCompressed: ((err: Error | null, payload: Buffer) => void) | null = null;
  private onPreparedFrame: ((err: Error | null, frame: Buffer) => void) | null = null;
  /** When set, broadcast frames (sendFrame, sendPrepared without a callback) wait in it for the end of the turn. */
  writeBatch: WriteBatch | null = null;
  batched: Buffer[] | null = null;
  batchedBytes = 0;

  constructor(ws: WebSocket, options: WebSocketOptions) {
    this.ws = ws;
    this.isServer = options.isServer;
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_MESSAGE;
    this.closeTimeout = options.closeTimeout ?? 5000;
    this.url = options.url ?? '';
  }

  /** The closing handshake completed: a close frame went each way (RFC 6455 §7.1.4). */
  get wasClean(): boolean {
    return this.closeSent && this.closeReceived;
  }

  /** Bytes accepted by send() and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return (this.socket ? this.socket.writableLength : 0) + this.queuedBytes + this.batchedBytes;
  }

  /**
   * Takes over a socket whose handshake is done; `head` holds bytes read past the handshake.
   * `deflate`: the permessage-deflate codec when the handshake agreed on it (`extensions` is the agreed header value).
   */
  attach(socket: Duplex, head: Buffer, protocol = '', extensions = '', deflate: PerMessageDeflate | null = null): void {
    this.abortHandshake = null;
    this.socket = socket;
    this.protocol = protocol;
    this.extensions = extensions;
    this.deflate = deflate;
    if (deflate !== null) {
      this.onInflated = this.inflated.bind(this);
      this.onCompressed = this.compressed.bind(this);
      this.onPreparedFrame = this.preparedFrame.bind(this);
    }
    this.decoder = new FrameDecoder(this, { expectMasked: this.isServer, maxMessageSize: this.maxPayload, allowRsv1: deflate !== null });
    const tcp = socket as Duplex & { setNoDelay?: (v: boolean) => void; setTimeout?: (ms: number) => void };
    tcp.setNoDelay?.(true);
    tcp.setTimeout?.(0);
    // Bytes read past the handshake go back into the stream, so they are decoded in order and
    // only after the caller (e.g. a 'connection' handler) has added its 'message' listeners.
    if (head.length > 0) socket.unshift(head);
    // Shared listener functions with a back-reference: no closures per connection.
    (socket as OwnedSocket)[kConnection] = this;
    socket.on('data', socketOnData);
    socket.on('end', socketOnEnd);
    socket.on('close', socketOnClose);
    if (!socket.listeners('error').includes(destroySocket)) socket.on('error', destroySocket);
    socket.on('drain', socketOnDrain);
    this.readyState = ReadyState.Open;
    if (websocketOpenChannel.hasSubscribers) websocketOpenChannel.publish({ socket, isServer: this.isServer });
    this.ws.emit('open');
  }

  /**
   * One read from the socket. Replies made while decoding it
   * (pongs, echoes, close answers) are corked into one write.
   */
  receive(socket: Duplex, chunk: Buffer): void {
    const decoder = this.decoder;
    if (decoder === null) return;
    socket.cork();
    try {
      decoder.push(chunk);
    } finally {
      socket.uncork();
    }
    this.blockReadingIfBacklogged(socket);
  }

  /**
   * A peer that sends (pings, messages to echo) without reading what we answer
   * would grow our write queue without bound: stop reading until it drains, and
   * TCP pushes back on the peer.
   */
  private blockReadingIfBacklogged(socket: Duplex): void {
    if (socket.writableNeedDrain && !this.readBlocked) {
      this.readBlocked = true;
      socket.pause();
    }
  }

  /** The socket drained: read again unless an inflation holds reading. */
  onDrain(): void {
    if (this.readBlocked) {
      this.readBlocked = false;
      if (!this.inflating) this.socket?.resume();
    }
    this.ws.emit('drain');
  }

  /** Sends a message: strings as text, anything else as binary unless options.binary says otherwise. */
  send(data: SendData, options?: { binary?: boolean } | SendCallback, cb?: SendCallback): boolean {
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    if (this.readyState !== ReadyState.Open) {
      if (cb) process.nextTick(cb, new Error('WebSocket is not open'));
      return false;
    }
    if (this.deflate !== null || this.sendQueue !== null) {
      const sent = this.sendSlow(data, options?.binary, cb);
      if (sent !== undefined) return sent;
    }
    const maskKey = this.isServer ? null : nextMaskKey();
    if (typeof data === 'string' && options?.binary !== true) {
      if (this.batched !== null) WriteBatch.writeNow(this);
      return this.socket!.write(encodeTextFrame(data, true, false, maskKey), cb);
    }
    const payload = toBuffer(data);
    const opcode = options?.binary === false ? Opcode.Text : Opcode.Binary;
    return this.writeFrame(opcode, payload, maskKey, cb);
  }

  /** Writes bytes that are already a complete server frame (a broadcast framed once for all clients). */
  sendFrame(frame: Buffer, cb?: SendCallback): boolean {
    if (this.readyState !== ReadyState.Open) {
      if (cb) process.nextTick(cb, new Error('WebSocket is not open'));
      return false;
    }
    if (this.sendQueue !== null) return this.enqueueSend(SendKind.Frame, frame, 0, null, cb);
    if (this.writeBatch !== null && cb === undefined) {
      this.writeBatch.add(this, frame);
      return !this.socket!.writableNeedDrain;
    }
    if (this.batched !== null) WriteBatch.writeNow(this);
    return this.socket!.write(frame, cb);
  }

  /** What the write batch owes this connection, at the end of the turn (or before a write that must follow it). */
  writeBatched(data: Buffer | Buffer[]): void {
    const socket = this.socket;
    if (socket === null || socket.destroyed) return;
    if (Buffer.isBuffer(data)) {
      socket.write(data);
      return;
    }
    socket.cork();
    for (let i = 0; i < data.length; i++) socket.write(data[i]!);
    socket.uncork();
  }

  /**
   * Sends a message prepared once for many receivers (a broadcast): its plain
   * frame is built once, and its compressed frame once per set of shared
   * compression settings (receivers whose server end resets context after
   * each message). Receivers with context takeover compress it themselves.
   */
  sendPrepared(message: PreparedMessage, cb?: SendCallback): boolean {
    if (this.readyState !== ReadyState.Open) {
      if (cb) process.nextTick(cb, new Error('WebSocket is not open'));
      return false;
    }
    const deflate = this.deflate;
    const compress = deflate !== null && deflate.shouldCompress(message.data.length);
    if (!this.isServer || (compress && deflate.sharedKey === null)) {
      return this.send(message.data, { binary: message.isBinary }, cb);
    }
    if (!compress) return this.sendFrame(message.frame, cb);
    const ready = message.compressedFrameIfReady(deflate);
    if (ready !== null) return this.sendFrame(ready, cb);
    return this.enqueueSend(SendKind.Prepared, EMPTY, 0, message, cb);
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
    if (this.readyState === ReadyState.Closed) return;
    if (this.readyState === ReadyState.Connecting) return this.failHandshake(CLOSED_WHILE_CONNECTING);
    if (code !== CloseCode.NoStatus && !isValidCloseCode(code)) throw new RangeError(`invalid close code ${code}`);
    this.sendClose(code, reason);
    if (this.closeReceived) this.finishClose();
  }

  /** Destroys the socket at once, with no closing handshake. */
  terminate(): void {
    if (this.readyState === ReadyState.Closed) return;
    if (this.readyState === ReadyState.Connecting) return this.failHandshake(CLOSED_WHILE_CONNECTING);
    // Without a socket the handshake was given up, and its 'close' is on the way.
    if (this.socket === null) return;
    this.readyState = ReadyState.Closing;
    this.socket.destroy();
  }

  /**
   * The opening handshake failed, or was given up by close() or terminate():
   * as in ws, readyState is CLOSING at once, then on the next tick come
   * 'error' (if listened to) and 'close' with 1006.
   */
  failHandshake(message: string): void {
    if (this.readyState !== ReadyState.Connecting) return;
    this.readyState = ReadyState.Closing;
    const abort = this.abortHandshake;
    this.abortHandshake = null;
    abort?.();
    process.nextTick(emitErrorAndClose, this, new Error(message));
  }

  /** 'error' goes only to listeners: unlike a plain EventEmitter, an unheard error does not throw. */
  emitError(error: Error): void {
    if (this.ws.listenerCount('error') > 0) this.ws.emit('error', error);
  }

  // The decoder's reports (FrameHandler).

  onMessage(data: Buffer, isBinary: boolean, compressed: boolean): void {
    if (compressed && this.deflate !== null) {
      // Inflate off the main thread; nothing more is read until this message is out, so order holds.
      this.decoder!.pause();
      this.socket!.pause();
      this.inflating = true;
      this.inflatingBinary = isBinary;
      this.deflate.decompress(data, this.onInflated!);
      return;
    }
    this.ws.emit('message', data, isBinary);
  }

  private inflated(err: ProtocolError | null, data: Buffer): void {
    if (this.readyState === ReadyState.Closed) return;
    if (err === null && !this.inflatingBinary && !isValidUtf8(data)) {
      err = new ProtocolError('invalid UTF-8 in a text message', CloseCode.InvalidPayload);
    }
    this.inflating = false;
    const socket = this.socket!;
    if (err !== null) {
      // The decoder is dropped: the rest of the input is ignored, as after a decoder error.
      this.decoder = null;
      socket.resume();
      this.onError(err);
      return;
    }
    this.ws.emit('message', data, this.inflatingBinary);
    if (!this.readBlocked) socket.resume();
    // Bytes held back while inflating are decoded now, their replies corked like a read's.
    socket.cork();
    try {
      this.decoder?.resume();
    } finally {
      socket.uncork();
    }
    this.blockReadingIfBacklogged(socket);
  }

  onPing(payload: Buffer): void {
    if (this.readyState === ReadyState.Open) this.control(Opcode.Pong, payload);
    this.ws.emit('ping', payload);
  }

  onPong(payload: Buffer): void {
    this.ws.isAlive = true;
    this.ws.emit('pong', payload);
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
    this.emitError(error);
    this.dropSendQueue();
    // §7.1.7 "Fail the WebSocket Connection": send the close code, then drop TCP.
    this.closeCode = error.closeCode;
    if (!this.closeSent) this.sendClose(error.closeCode, truncateCloseReason(error.message));
    this.finishClose(true);
  }

  // Internals.

  private writeFrame(opcode: number, payload: Buffer, maskKey: Buffer | null, cb?: SendCallback, rsv1 = false): boolean {
    const socket = this.socket!;
    if (this.batched !== null) WriteBatch.writeNow(this);
    if (maskKey !== null || payload.length <= MERGE_LIMIT) {
      return socket.write(encodeFrame(opcode, payload, true, rsv1, maskKey), cb);
    }
    // Large payload: header and payload leave in one writev, the payload uncopied.
    socket.cork();
    socket.write(encodeHeader(opcode, payload.length, true, rsv1));
    const ok = socket.write(payload, cb);
    socket.uncork();
    return ok;
  }

  // permessage-deflate sends. Control frames never wait here: they may go between messages (§5.4).

  /** send() when deflate is on or a compression is in flight; undefined: take the plain fast path. */
  private sendSlow(data: SendData, binary: boolean | undefined, cb?: SendCallback): boolean | undefined {
    const isString = typeof data === 'string';
    const opcode = isString ? (binary === true ? Opcode.Binary : Opcode.Text) : (binary === false ? Opcode.Text : Opcode.Binary);
    const deflate = this.deflate;
    // A string's UTF-8 length is at most 3 times its length: no need to encode it to know it is short.
    if (deflate !== null && !(isString && (data as string).length * 3 < deflate.threshold)) {
      const payload = toBuffer(data);
      if (deflate.shouldCompress(payload.length)) return this.enqueueSend(SendKind.Compress, payload, opcode, null, cb);
      if (this.sendQueue === null) return this.writeFrame(opcode, payload, this.isServer ? null : nextMaskKey(), cb);
      return this.enqueueSend(SendKind.Frame, encodeFrame(opcode, payload, true, false, this.isServer ? null : nextMaskKey()), 0, null, cb);
    }
    if (this.sendQueue === null) return undefined;
    const maskKey = this.isServer ? null : nextMaskKey();
    const frame = isString && opcode === Opcode.Text ? encodeTextFrame(data as string, true, false, maskKey)
      : encodeFrame(opcode, toBuffer(data), true, false, maskKey);
    return this.enqueueSend(SendKind.Frame, frame, 0, null, cb);
  }

  private enqueueSend(kind: SendKind, bytes: Buffer, opcode: number, prepared: PreparedMessage | null, cb: SendCallback | undefined): boolean {
    const item: QueuedSend = { kind, bytes, opcode, prepared, cb };
    this.queuedBytes += bytes.length;
    if (this.sendQueue === null) {
      this.sendQueue = [item];
      this.pumpSend();
    } else {
      this.sendQueue.push(item);
    }
    return !(this.socket?.writableNeedDrain ?? false);
  }

  /** Writes queued sends in order; stops at a compression, whose end resumes it. */
  private pumpSend(): void {
    const queue = this.sendQueue!;
    const socket = this.socket!;
    if (this.batched !== null) WriteBatch.writeNow(this);
    let i = 0;
    while (i < queue.length) {
      const item = queue[i++]!;
      this.queuedBytes -= item.bytes.length;
      if (item.kind === SendKind.Frame || item.kind === SendKind.Close) {
        socket.write(item.bytes, item.cb);
        continue;
      }
      this.sending = item;
      queue.splice(0, i);
      if (item.kind === SendKind.Compress) this.deflate!.compress(item.bytes, this.onCompressed!);
      else item.prepared!.compressedFrame(this.deflate!, this.onPreparedFrame!);
      return;
    }
    this.sendQueue = null;
    if (this.endAfterSend) {
      this.endAfterSend = false;
      socket.end();
    }
  }

  private compressed(err: Error | null, payload: Buffer): void {
    const item = this.sending!;
    this.sending = null;
    if (this.sendQueue === null) return; // dropped: the connection failed or closed meanwhile
    if (err !== null) return this.compressionFailed(err, item);
    this.writeFrame(item.opcode, payload, this.isServer ? null : nextMaskKey(), item.cb, true);
    this.pumpSend();
  }

  private preparedFrame(err: Error | null, frame: Buffer): void {
    const item = this.sending!;
    this.sending = null;
    if (this.sendQueue === null) return;
    if (err !== null) return this.compressionFailed(err, item);
    if (this.batched !== null) WriteBatch.writeNow(this);
    this.socket!.write(frame, item.cb);
    this.pumpSend();
  }

  private compressionFailed(err: Error, item: QueuedSend): void {
    if (item.cb) process.nextTick(item.cb, err);
    this.onError(new ProtocolError(`compression failed: ${err.message}`, CloseCode.InternalError));
  }

  /** The connection failed or closed: queued sends fail, except a queued close frame, which goes out now. */
  private dropSendQueue(): void {
    const queue = this.sendQueue;
    if (queue === null) return;
    this.sendQueue = null;
    this.queuedBytes = 0;
    this.endAfterSend = false;
    const err = new Error('WebSocket closed before the message was sent');
    const current = this.sending;
    if (current?.cb) process.nextTick(current.cb, err);
    const socket = this.socket;
    for (const item of queue) {
      if (item.kind === SendKind.Close && socket?.writable) socket.write(item.bytes);
      else if (item.cb) process.nextTick(item.cb, err);
    }
  }

  /** Ends our side of TCP, after the sends still waiting behind a compression. */
  private endSocket(): void {
    if (this.sendQueue !== null) this.endAfterSend = true;
    else {
      if (this.batched !== null) WriteBatch.writeNow(this);
      this.socket?.end();
    }
  }

  private control(opcode: number, data: SendData, cb?: SendCallback): void {
    if (this.readyState !== ReadyState.Open) {
      if (cb) process.nextTick(cb, new Error('WebSocket is not open'));
      return;
    }
    const payload = toBuffer(data);
    if (payload.length > 125) throw new RangeError('control frame payload must be at most 125 bytes');
    if (this.batched !== null) WriteBatch.writeNow(this);
    this.socket!.write(encodeFrame(opcode, payload, true, false, this.isServer ? null : nextMaskKey()), cb);
  }

  private sendClose(code: number, reason: string | Buffer): void {
    if (this.closeSent || !this.socket) return;
    this.closeSent = true;
    this.readyState = ReadyState.Closing;
    const payload = encodeClosePayload(code, reason);
    const frame = encodeFrame(Opcode.Close, payload, true, false, this.isServer ? null : nextMaskKey());
    // After the messages already sent, even those still compressing.
    if (this.sendQueue !== null) this.enqueueSend(SendKind.Close, frame, 0, null, undefined);
    else {
      if (this.batched !== null) WriteBatch.writeNow(this);
      this.socket.write(frame);
    }
    this.armCloseTimer();
  }

  /**
   * The close frames are exchanged, or the connection failed. The server end
   * closes TCP first (§7.1.1); a client waits for it, as long as closeTimeout.
   */
  private finishClose(failed = false): void {
    if (!this.socket) return;
    if (this.isServer || failed) this.endSocket();
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.closeTimer || !this.socket) return;
    const socket = this.socket;
    this.closeTimer = setTimeout(() => socket.destroy(), this.closeTimeout);
    this.closeTimer.unref();
  }

  onSocketEnd(): void {
    // The peer will send nothing more; finish our side too.
    this.readyState = ReadyState.Closing;
    this.endSocket();
    this.armCloseTimer();
  }

  onSocketClose(): void {
    if (this.readyState === ReadyState.Closed) return;
    this.readyState = ReadyState.Closed;
    WriteBatch.drop(this);
    this.dropSendQueue();
    this.deflate?.close();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    if (websocketCloseChannel.hasSubscribers) {
      websocketCloseChannel.publish({ socket: this.socket, isServer: this.isServer, code: this.closeCode });
    }
    this.ws.emit('close', this.closeCode, this.closeReason);
  }
}

const CLOSED_WHILE_CONNECTING = 'WebSocket was closed before the connection was established';

function emitErrorAndClose(connection: Connection, error: Error): void {
  connection.emitError(error);
  connection.onSocketClose();
}

const kConnection = Symbol('pushwire.connection');
type OwnedSocket = Duplex & { [kConnection]: Connection };

function socketOnData(this: OwnedSocket, chunk: Buffer): void {
  this[kConnection].receive(this, chunk);
}
function socketOnEnd(this: OwnedSocket): void {
  this[kConnection].onSocketEnd();
}
function socketOnClose(this: OwnedSocket): void {
  this[kConnection].onSocketClose();
}
function socketOnDrain(this: OwnedSocket): void {
  this[kConnection].onDrain();
}

function toBuffer(data: SendData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
