import zlib from 'node:zlib';
import { CloseCode } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';
import { DEFAULT_THRESHOLD, type DeflateOptions, type DeflateParams } from '../protocol/deflate-params.js';
import { zlibLimiter, type ZlibLimiter } from './zlib-limiter.js';
import {
  deflatePool, destroyStream, inflatePool, newDeflater, newInflater,
  type Deflater, type DeflateOwner, type Inflater, type InflateOwner,
} from './zlib-pool.js';

/**
 * The permessage-deflate codec of one connection (RFC 7692 §6, §7.2), on
 * node:zlib's asynchronous raw deflate/inflate.
 *
 * - A message is compressed with a sync flush and the `00 00 ff ff` that
 *   ends it is cut off (§7.2.1); the receiver appends it again (§7.2.2).
 * - A direction with context takeover keeps its own zlib stream for the life
 *   of the connection; one without borrows a stream from the shared pool
 *   (zlib-pool.ts) for each message.
 * - Inflation counts its output and stops the zlib stream as soon as it
 *   passes maxPayload: a small bomb cannot make memory grow (1009).
 * - Jobs go through the shared ZlibLimiter. The caller keeps at most one
 *   compress and one decompress in flight per codec (WebSocket does: its
 *   decoder pauses while a message inflates and its sends queue while one
 *   compresses), which is what keeps messages in order.
 */

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const EMPTY = Buffer.alloc(0);
/** Small inputs are copied next to the trailer so inflation is one zlib job, not two. */
const MERGE_TRAILER_LIMIT = 16 * 1024;

export type InflateCallback = (err: ProtocolError | null, data: Buffer) => void;
export type DeflateCallback = (err: Error | null, data: Buffer) => void;

export interface PerMessageDeflateOptions extends DeflateOptions {
  isServer: boolean;
  /** Cap on the inflated size of one message. */
  maxPayload: number;
  /** Defaults to the process-wide limiter. */
  limiter?: ZlibLimiter;
}

export class PerMessageDeflate implements InflateOwner, DeflateOwner {
  readonly params: DeflateParams;
  readonly isServer: boolean;
  /** Messages shorter than this are sent uncompressed. */
  readonly threshold: number;
  readonly maxPayload: number;
  readonly level: number;
  readonly memLevel: number;
  /** Window bits and context reset of what this end sends, and of what it receives. */
  readonly sendWindowBits: number;
  readonly recvWindowBits: number;
  readonly sendNoContextTakeover: boolean;
  readonly recvNoContextTakeover: boolean;
  /**
   * Key of the compression settings of what this end sends, when it resets
   * context after each message: two connections with the same key produce
   * the same compressed bytes for the same message, so a broadcast can be
   * compressed once for all of them (see PreparedMessage). null otherwise.
   */
  readonly sharedKey: string | null;
  /** Inflated size of the last (or current) message, for tests and stats. */
  inflatedBytes = 0;

  private readonly limiter: ZlibLimiter;
  private readonly deflateKey: string;
  private readonly inflateKey: string;
  private closed = false;

  // Receive direction: at most one job.
  private inflater: Inflater | null = null;
  private inInput: Buffer = EMPTY;
  private inCallback: InflateCallback | null = null;
  private inChunks: Buffer[] = [];
  private inActive = false;
  /** The job holds a limiter slot (it may be active but still waiting for one). */
  private inStarted = false;
  private inEnded = false;

  // Send direction: at most one job.
  private deflater: Deflater | null = null;
  private outInput: Buffer = EMPTY;
  private outCallback: DeflateCallback | null = null;
  private outChunks: Buffer[] = [];
  private outLength = 0;
  private outActive = false;
  private outStarted = false;

  constructor(params: DeflateParams, options: PerMessageDeflateOptions) {
    this.params = params;
    this.isServer = options.isServer;
    this.threshold = Math.max(1, options.threshold ?? DEFAULT_THRESHOLD);
    this.maxPayload = options.maxPayload;
    this.level = options.level ?? zlib.constants.Z_DEFAULT_COMPRESSION;
    this.memLevel = options.memLevel ?? 8;
    this.limiter = options.limiter ?? zlibLimiter;
    const server = this.isServer;
    this.sendWindowBits = server ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    this.recvWindowBits = server ? params.clientMaxWindowBits : params.serverMaxWindowBits;
    this.sendNoContextTakeover = server ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.recvNoContextTakeover = server ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    this.deflateKey = compressionKey(this.sendWindowBits, this.level, this.memLevel);
    this.inflateKey = String(this.recvWindowBits);
    this.sharedKey = this.sendNoContextTakeover ? this.deflateKey : null;
  }

  /** Should a message of this many bytes be compressed? (Empty ones never are: see compress.) */
  shouldCompress(byteLength: number): boolean {
    return byteLength >= this.threshold;
  }

  /**
   * Inflates one whole message (the payloads of its frames, joined). Calls
   * back with a ProtocolError carrying 1009 if it inflates past maxPayload,
   * 1007 if it is not valid deflate data.
   */
  decompress(data: Buffer, callback: InflateCallback): void {
    if (this.inActive) throw new Error('a decompression is already in flight on this connection');
    if (this.closed) return void process.nextTick(callback, new ProtocolError('connection closed', CloseCode.Abnormal), EMPTY);
    if (data.length === 0) {
      // Not valid deflate data on its own; read as the empty message, without touching the stream.
      this.inflatedBytes = 0;
      return void process.nextTick(callback, null, EMPTY);
    }
    this.inActive = true;
    this.inInput = data;
    this.inCallback = callback;
    this.inflatedBytes = 0;
    this.limiter.add(this.startInflate);
  }

  /** Compresses one whole message into the payload of a frame with RSV1 (trailer removed). */
  compress(data: Buffer, callback: DeflateCallback): void {
    if (this.outActive) throw new Error('a compression is already in flight on this connection');
    if (this.closed) return void process.nextTick(callback, new Error('connection closed'), EMPTY);
    if (data.length === 0) {
      // A sync flush of nothing right after another one writes nothing (zlib answers Z_BUF_ERROR),
      // so the empty message gets the canonical empty stored block of §7.2.3.6.
      return void process.nextTick(callback, null, Buffer.from([0x00]));
    }
    this.outActive = true;
    this.outInput = data;
    this.outCallback = callback;
    this.limiter.add(this.startDeflate);
  }

  /** Releases the zlib streams; a job in flight calls back with an error. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.inActive) this.endInflate(new ProtocolError('connection closed', CloseCode.Abnormal), EMPTY);
    if (this.outActive) this.endDeflate(new Error('connection closed'), EMPTY);
    if (this.inflater) destroyStream(this.inflater);
    if (this.deflater) destroyStream(this.deflater);
    this.inflater = null;
    this.deflater = null;
  }

  // Inflation.

  private readonly startInflate = (): void => {
    if (!this.inActive) return void this.limiter.done(); // closed while waiting: give the slot back
    this.inStarted = true;
    let inflater = this.inflater;
    if (!inflater) {
      inflater = (this.recvNoContextTakeover ? inflatePool.take(this.inflateKey) : undefined) ??
        newInflater(this.recvWindowBits);
      inflater.pwOwner = this;
      this.inflater = inflater;
      this.inEnded = false;
    }
    const input = this.inInput;
    this.inInput = EMPTY;
    if (input.length <= MERGE_TRAILER_LIMIT) {
      const joined = Buffer.allocUnsafe(input.length + 4);
      joined.set(input, 0);
      joined.set(TRAILER, input.length);
      inflater.write(joined, this.inflateWritten);
    } else {
      inflater.write(input);
      inflater.write(TRAILER, this.inflateWritten);
    }
  };

  /** @internal 'data' of the inflater: enforce the cap before keeping anything. */
  inflateChunk(chunk: Buffer): void {
    if (!this.inActive) return;
    this.inflatedBytes += chunk.length;
    if (this.inflatedBytes > this.maxPayload) {
      // Stop zlib here: destroying the stream makes Node drop the rest of the job.
      const inflater = this.inflater!;
      this.inflater = null;
      destroyStream(inflater);
      this.endInflate(new ProtocolError(`message inflates past ${this.maxPayload} bytes`, CloseCode.MessageTooBig), EMPTY);
      return;
    }
    this.inChunks.push(chunk);
  }

  /** @internal */
  inflateFailed(err: Error): void {
    const inflater = this.inflater;
    this.inflater = null;
    if (inflater) destroyStream(inflater);
    if (this.inActive) this.endInflate(new ProtocolError(`invalid compressed data: ${err.message}`, CloseCode.InvalidPayload), EMPTY);
  }

  /** @internal */
  inflateEnded(stream: Inflater): void {
    if (stream === this.inflater) this.inEnded = true;
  }

  private readonly inflateWritten = (err?: Error | null): void => {
    if (!this.inActive) return;
    if (err) return this.inflateFailed(err);
    const chunks = this.inChunks;
    const data = chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.inflatedBytes);
    const inflater = this.inflater!;
    if (this.inEnded) {
      // A final block ended the stream; the next message starts a fresh one.
      this.inflater = null;
      destroyStream(inflater);
    } else if (this.recvNoContextTakeover) {
      this.inflater = null;
      inflatePool.give(this.inflateKey, inflater);
    }
    this.endInflate(null, data);
  };

  private endInflate(err: ProtocolError | null, data: Buffer): void {
    const callback = this.inCallback!;
    this.inActive = false;
    this.inCallback = null;
    this.inChunks = [];
    this.inInput = EMPTY;
    if (this.inStarted) {
      this.inStarted = false;
      this.limiter.done();
    }
    callback(err, data);
  }

  // Compression.

  private readonly startDeflate = (): void => {
    if (!this.outActive) return void this.limiter.done();
    this.outStarted = true;
    let deflater = this.deflater;
    if (!deflater) {
      deflater = (this.sendNoContextTakeover ? deflatePool.take(this.deflateKey) : undefined) ??
        newDeflater(this.sendWindowBits, this.level, this.memLevel);
      deflater.pwOwner = this;
      this.deflater = deflater;
    }
    const input = this.outInput;
    this.outInput = EMPTY;
    deflater.write(input, this.deflateWritten);
  };

  /** @internal */
  deflateChunk(chunk: Buffer): void {
    if (!this.outActive) return;
    this.outChunks.push(chunk);
    this.outLength += chunk.length;
  }

  /** @internal */
  deflateFailed(err: Error): void {
    const deflater = this.deflater;
    this.deflater = null;
    if (deflater) destroyStream(deflater);
    if (this.outActive) this.endDeflate(err, EMPTY);
  }

  private readonly deflateWritten = (err?: Error | null): void => {
    if (!this.outActive) return;
    if (err) return this.deflateFailed(err);
    const chunks = this.outChunks;
    const length = this.outLength;
    const deflater = this.deflater!;
    if (this.sendNoContextTakeover) {
      this.deflater = null;
      deflatePool.give(this.deflateKey, deflater);
    }
    const data = stripTrailer(chunks, length);
    if (data === null) return void this.endDeflate(new Error('deflate output does not end with a sync flush'), EMPTY);
    this.endDeflate(null, data);
  };

  private endDeflate(err: Error | null, data: Buffer): void {
    const callback = this.outCallback!;
    this.outActive = false;
    this.outCallback = null;
    this.outChunks = [];
    this.outLength = 0;
    this.outInput = EMPTY;
    if (this.outStarted) {
      this.outStarted = false;
      this.limiter.done();
    }
    callback(err, data);
  }
}

/** The sync-flushed output without its final `00 00 ff ff`, or null if it does not end so. */
export function stripTrailer(chunks: Buffer[], length: number): Buffer | null {
  if (length < 4) return null;
  // The 4 trailer bytes may straddle chunks; check them from the end.
  let k = chunks.length - 1;
  let i = chunks[k]!.length;
  for (let t = 3; t >= 0; t--) {
    while (i === 0) i = chunks[--k]!.length;
    if (chunks[k]![--i] !== TRAILER[t]) return null;
  }
  if (chunks.length === 1) return chunks[0]!.subarray(0, length - 4);
  return Buffer.concat(chunks, length - 4); // copies only what is kept
}

function compressionKey(windowBits: number, level: number, memLevel: number): string {
  return `w${windowBits}l${level}m${memLevel}`;
}
