import { CloseCode, MAX_CONTROL_PAYLOAD, Opcode } from './constants.js';
import { ProtocolError } from './errors.js';
import { applyMask, unmask, unmaskInto } from './mask.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';
import { parseClosePayload } from './close.js';

/** What the decoder reports; no sockets, timers or emitters, just calls. */
export interface FrameHandler {
  /** A complete message. `compressed`: RSV1 was set on its first frame (permessage-deflate); data is still deflated. */
  onMessage(data: Buffer, isBinary: boolean, compressed: boolean): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** A valid close frame; code 1005 when it had no body. The decoder ignores all later input. */
  onClose(code: number, reason: Buffer): void;
  /** A protocol violation; the decoder ignores all later input. */
  onError(error: ProtocolError): void;
}

export interface FrameDecoderOptions {
  /** Server side: every client frame must be masked (§5.1). Client side: none may be. */
  expectMasked: boolean;
  /** Largest message, summed over its fragments (and before inflation for compressed ones). */
  maxMessageSize: number;
  /** RSV1 is allowed on the first frame of a data message (permessage-deflate was negotiated). */
  allowRsv1?: boolean;
}

const enum State { Header, Payload, Done }

const EMPTY = Buffer.alloc(0);
/** Pieces of a fragmented message smaller than this are copied together into one buffer... */
const COALESCE_PART = 1024;
/** ...of this size (or the message limit, if smaller). */
const COALESCE_SIZE = 16 * 1024;

/**
 * RFC 6455 §5 frame decoder: a state machine fed arbitrary chunks of the byte
 * stream. A frame may be split at any byte and a chunk may hold many frames;
 * the result is the same. Payload bytes are unmasked (and text validated) as
 * they arrive, so an invalid byte fails the connection at once.
 */
export class FrameDecoder {
  private readonly handler: FrameHandler;
  private readonly expectMasked: boolean;
  private readonly maxMessageSize: number;
  allowRsv1: boolean;

  private state = State.Header;
  /** A header split across chunks is gathered here (2 + 8 + 4 bytes at most); made on first need. */
  private headerBuf: Buffer | null = null;
  private headerFill = 0;

  // The frame being read.
  private opcode = 0;
  private fin = false;
  private masked = false;
  /** The 4 key bytes packed in a number: no Buffer per connection (idle connections are many); see keyBytes(). */
  private maskWord = 0;
  private frameRemaining = 0;
  private framePhase = 0;
  private controlPayload: Buffer = EMPTY;

  // The data message being assembled (possibly over several frames).
  private messageOpcode = 0; // 0: none in progress
  private messageCompressed = false;
  private messageLength = 0;
  private fragments: Buffer[] = [];
  /**
   * Small pieces of a fragmented message are gathered here, not kept as a
   * Buffer each: a message sent in millions of 1-byte frames then costs its
   * bytes, not millions of objects. `coalesceStart` is where the part not yet in `fragments` begins.
   */
  private coalesce: Buffer | null = null;
  private coalesceStart = 0;
  private coalesceFill = 0;
  /** A single-frame message arriving in pieces is copied (and unmasked) straight into its final buffer. */
  private assembly: Buffer | null = null;
  private readonly utf8 = new Utf8Validator();

  private paused = false;
  private pending: Buffer[] = [];

  constructor(handler: FrameHandler, options: FrameDecoderOptions) {
    this.handler = handler;
    this.expectMasked = options.expectMasked;
    this.maxMessageSize = options.maxMessageSize;
    this.allowRsv1 = options.allowRsv1 ?? false;
  }

  /** True once a close frame or an error ended the stream. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** Stops processing after the current message; later bytes are kept until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    // push() appends to `pending` again if a message pauses us, so order is kept.
    const queued = this.pending;
    this.pending = [];
    for (const chunk of queued) this.push(chunk);
  }

  /** Feeds the next bytes received from the peer. Never throws for bad input. */
  push(chunk: Buffer): void {
    if (this.done) return;
    if (this.paused) {
      this.pending.push(chunk);
      return;
    }
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      if (this.state === State.Header) {
        if (this.headerFill === 0 && len - pos >= 2) {
          const size = headerSize(chunk[pos + 1]!);
          if (len - pos >= size) {
            // Fast path: the whole header is in this chunk.
            if (!this.readHeader(chunk, pos)) return;
            pos += size;
            if (this.frameRemaining === 0) {
              this.endFrame();
            } else if (this.opcode < 8 && len - pos >= this.frameRemaining && this.fin &&
              this.messageOpcode === this.opcode && this.fragments.length === 0) {
              // Fastest path: a whole unfragmented data frame in this chunk, delivered as a view.
              pos = this.wholeMessage(chunk, pos);
            }
            if (this.done) return;
            if (this.paused) break;
            continue;
          }
        }
        pos = this.fillHeader(chunk, pos);
        if (this.done) return;
      } else {
        const take = Math.min(this.frameRemaining, len - pos);
        this.payloadPart(chunk, pos, take);
        pos += take;
        if (this.done) return;
        if (this.frameRemaining === 0) this.endFrame();
        if (this.done) return;
      }
      if (this.paused) break;
    }
    if (pos < len && !this.done) this.pending.push(chunk.subarray(pos));
  }

  /** Slow path: gathers a header that arrives split across chunks, byte by byte (at most 14). */
  private fillHeader(chunk: Buffer, pos: number): number {
    const hb = this.headerBuf ??= Buffer.allocUnsafe(14);
    while (pos < chunk.length) {
      hb[this.headerFill++] = chunk[pos++]!;
      if (this.headerFill >= 2 && this.headerFill === headerSize(hb[1]!)) {
        this.headerDone();
        break;
      }
    }
    return pos;
  }

  private headerDone(): void {
    this.headerFill = 0;
    if (!this.readHeader(this.headerBuf!, 0)) return;
    if (this.frameRemaining === 0) this.endFrame();
  }

  /** Parses and checks a complete header at buf[off]. False (after onError) if it is invalid. */
  private readHeader(buf: Buffer, off: number): boolean {
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let p = off + 2;

    if ((b0 & 0x30) !== 0) return this.fail('RSV2 and RSV3 must be clear', CloseCode.ProtocolError);
    if (opcode >= 8) {
      if (opcode > Opcode.Pong) return this.fail(`reserved opcode ${opcode}`, CloseCode.ProtocolError);
      if (!fin) return this.fail('fragmented control frame', CloseCode.ProtocolError);
      if (length > MAX_CONTROL_PAYLOAD) return this.fail('control frame payload over 125 bytes', CloseCode.ProtocolError);
      if (rsv1) return this.fail('RSV1 on a control frame', CloseCode.ProtocolError);
    } else if (opcode === Opcode.Continuation) {
      if (this.messageOpcode === 0) return this.fail('continuation frame with no message to continue', CloseCode.ProtocolError);
      if (rsv1) return this.fail('RSV1 on a continuation frame', CloseCode.ProtocolError);
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.messageOpcode !== 0) return this.fail('new data frame before the fragmented message ended', CloseCode.ProtocolError);
      if (rsv1 && !this.allowRsv1) return this.fail('RSV1 set with no extension negotiated', CloseCode.ProtocolError);
    } else {
      return this.fail(`reserved opcode ${opcode}`, CloseCode.ProtocolError);
    }
    if (masked !== this.expectMasked) {
      return this.fail(this.expectMasked ? 'client frame not masked' : 'server frame masked', CloseCode.ProtocolError);
    }

    if (length === 126) {
      length = buf.readUInt16BE(p);
      p += 2;
    } else if (length === 127) {
      const high = buf.readUInt32BE(p);
      // §5.2: the most significant bit must be 0; past 2^53 a number cannot hold it.
      if (high > 0x1fffff) return this.fail('64-bit payload length out of range', high & 0x80000000 ? CloseCode.ProtocolError : CloseCode.MessageTooBig);
      length = high * 0x100000000 + buf.readUInt32BE(p + 4);
      p += 8;
    }
    if (opcode < 8 && this.messageLength + length > this.maxMessageSize) {
      return this.fail(`message over ${this.maxMessageSize} bytes`, CloseCode.MessageTooBig);
    }
    if (masked) {
      this.maskWord = buf.readInt32LE(p);
    }

    this.opcode = opcode;
    this.fin = fin;
    this.masked = masked;
    this.frameRemaining = length;
    this.framePhase = 0;
    if (opcode >= 8) {
      this.controlPayload = length === 0 ? EMPTY : Buffer.allocUnsafe(length);
    } else if (opcode !== Opcode.Continuation) {
      this.messageOpcode = opcode;
      this.messageCompressed = rsv1;
      if (opcode === Opcode.Text) this.utf8.reset();
    }
    this.state = State.Payload;
    return true;
  }

  /** A whole single-frame message inside one chunk: unmask and validate in one pass, no copy. */
  private wholeMessage(chunk: Buffer, pos: number): number {
    const end = pos + this.frameRemaining;
    const data = chunk.subarray(pos, end);
    // unmask() reports pure ASCII, which is valid UTF-8 without a second pass.
    const ascii = this.masked && unmask(data, keyBytes(this.maskWord), 0);
    const isText = this.messageOpcode === Opcode.Text;
    const compressed = this.messageCompressed;
    this.state = State.Header;
    this.frameRemaining = 0;
    this.messageOpcode = 0;
    this.messageCompressed = false;
    this.messageLength = 0;
    if (isText && !compressed && !ascii && !isValidUtf8(data)) {
      this.fail('invalid UTF-8 in a text message', CloseCode.InvalidPayload);
      return end;
    }
    this.handler.onMessage(data, !isText, compressed);
    return end;
  }

  private payloadPart(chunk: Buffer, pos: number, take: number): void {
    if (this.opcode >= 8) {
      const offset = this.controlPayload.length - this.frameRemaining;
      chunk.copy(this.controlPayload, offset, pos, pos + take);
      this.frameRemaining -= take;
      return;
    }
    if (this.assembly === null && this.fin && this.opcode !== Opcode.Continuation &&
      (this.messageLength + take) * 4 >= this.messageLength + this.frameRemaining) {
      // A whole message in one frame, and a quarter of it is here (no allocation on the word of a header alone).
      this.startAssembly();
    }
    if (this.assembly !== null) {
      this.assemblePart(chunk, pos, take);
      return;
    }
    let part: Buffer;
    if (take < COALESCE_PART) {
      part = this.coalescePart(chunk, pos, take);
    } else {
      this.flushCoalesced();
      part = chunk.subarray(pos, pos + take);
      // A small slice would pin its whole socket chunk in memory until the message ends: copy it.
      if (take < chunk.length >>> 2) part = Buffer.from(part);
      this.fragments.push(part);
    }
    const ascii = this.masked && unmask(part, keyBytes(this.maskWord), this.framePhase);
    this.framePhase = (this.framePhase + take) & 3;
    this.frameRemaining -= take;
    if (this.messageOpcode === Opcode.Text && !this.messageCompressed && !this.utf8Ok(part, ascii)) {
      this.fail('invalid UTF-8 in a text message', CloseCode.InvalidPayload);
      return;
    }
    this.messageLength += take;
  }

  /** Copies a small piece behind the previous ones; returns its place there. */
  private coalescePart(chunk: Buffer, pos: number, take: number): Buffer {
    let buf = this.coalesce;
    if (buf === null || this.coalesceFill + take > buf.length) {
      this.flushCoalesced();
      buf = this.coalesce = Buffer.allocUnsafe(Math.min(COALESCE_SIZE, this.maxMessageSize));
      this.coalesceStart = this.coalesceFill = 0;
    }
    const at = this.coalesceFill;
    chunk.copy(buf, at, pos, pos + take);
    this.coalesceFill = at + take;
    return buf.subarray(at, at + take);
  }

  /** Moves the gathered small pieces into `fragments`, in order. */
  private flushCoalesced(): void {
    if (this.coalesceFill > this.coalesceStart) {
      this.fragments.push(this.coalesce!.subarray(this.coalesceStart, this.coalesceFill));
      this.coalesceStart = this.coalesceFill;
    }
  }

  private startAssembly(): void {
    this.flushCoalesced();
    this.coalesce = null;
    const buf = Buffer.allocUnsafe(this.messageLength + this.frameRemaining);
    let at = 0;
    for (const f of this.fragments) {
      buf.set(f, at);
      at += f.length;
    }
    this.fragments = [];
    this.assembly = buf;
  }

  /** Copies and unmasks one piece into the message buffer in a single pass, then checks its UTF-8. */
  private assemblePart(chunk: Buffer, pos: number, take: number): void {
    const dst = this.assembly!;
    const at = this.messageLength;
    let ascii = false;
    if (this.masked) ascii = unmaskInto(chunk.subarray(pos, pos + take), keyBytes(this.maskWord), this.framePhase, dst, at);
    else chunk.copy(dst, at, pos, pos + take);
    this.framePhase = (this.framePhase + take) & 3;
    this.frameRemaining -= take;
    if (this.messageOpcode === Opcode.Text && !this.messageCompressed && !(ascii && this.utf8.need === 0) &&
      !this.utf8.write(dst.subarray(at, at + take))) {
      this.fail('invalid UTF-8 in a text message', CloseCode.InvalidPayload);
      return;
    }
    this.messageLength += take;
  }

  /**
   * Feeds one unmasked piece of a text message to the incremental validator.
   * A pure-ASCII piece at a sequence boundary cannot change its state, so it
   * is skipped; one that must continue a sequence still goes through (and fails
   * there), so fail-fast is exactly as without the shortcut.
   */
  private utf8Ok(part: Buffer, ascii: boolean): boolean {
    return (ascii && this.utf8.need === 0) || this.utf8.write(part);
  }

  private endFrame(): void {
    this.state = State.Header;
    const opcode = this.opcode;
    if (opcode >= 8) {
      const payload = this.controlPayload;
      if (this.masked) applyMask(payload, keyBytes(this.maskWord), 0);
      this.controlPayload = EMPTY;
      if (opcode === Opcode.Ping) this.handler.onPing(payload);
      else if (opcode === Opcode.Pong) this.handler.onPong(payload);
      else this.closeFrame(payload);
      return;
    }
    if (!this.fin) return;
    const isText = this.messageOpcode === Opcode.Text;
    const compressed = this.messageCompressed;
    this.flushCoalesced();
    this.coalesce = null;
    const fragments = this.fragments;
    const data = this.assembly ?? (fragments.length === 0 ? EMPTY
      : fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, this.messageLength));
    this.assembly = null;
    if (fragments.length > 0) this.fragments = [];
    this.messageOpcode = 0;
    this.messageCompressed = false;
    this.messageLength = 0;
    if (isText && !compressed && !this.utf8.end()) {
      this.fail('text message ends inside a UTF-8 sequence', CloseCode.InvalidPayload);
      return;
    }
    this.handler.onMessage(data, !isText, compressed);
  }

  private closeFrame(payload: Buffer): void {
    let code: number;
    let reason: Buffer;
    try {
      ({ code, reason } = parseClosePayload(payload));
    } catch (err) {
      this.fail((err as ProtocolError).message, (err as ProtocolError).closeCode);
      return;
    }
    this.state = State.Done;
    this.pending = [];
    this.handler.onClose(code, reason);
  }

  private fail(message: string, code: number): false {
    this.state = State.Done;
    this.fragments = [];
    this.coalesce = null;
    this.assembly = null;
    this.pending = [];
    this.handler.onError(new ProtocolError(message, code));
    return false;
  }
}

// Decoding runs to completion synchronously, so one scratch key serves every decoder.
const KEY = new Uint8Array(4);

/** The masking key as bytes, in the shared scratch array (valid until the next call). */
function keyBytes(word: number): Uint8Array {
  KEY[0] = word & 0xff; KEY[1] = (word >>> 8) & 0xff; KEY[2] = (word >>> 16) & 0xff; KEY[3] = word >>> 24;
  return KEY;
}

/** Header size from the second byte: 2, plus the extended length, plus the mask. */
function headerSize(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}
