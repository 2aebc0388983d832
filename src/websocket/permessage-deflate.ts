import zlib from 'node:zlib';
import { CloseCode } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';
import {
  acceptAsClient, clientOffer, DEFAULT_THRESHOLD, negotiateAsServer, validateDeflateOptions,
  type DeflateOptions, type DeflateParams,
} from '../protocol/deflate-params.js';
import { formatExtensions, parseExtensions } from '../protocol/extension-header.js';
import { encodeHeader, headerLength, writeHeader } from '../protocol/frame-encoder.js';
import { zlibLimiter, type ZlibLimiter } from './zlib-limiter.js';

/**
 * The permessage-deflate codec of one connection (RFC 7692 §6, §7.2), on
 * node:zlib's asynchronous raw deflate/inflate.
 *
 * - A message is compressed with a sync flush and the `00 00 ff ff` that
 *   ends it is cut off (§7.2.1); the receiver appends it again (§7.2.2).
 * - A direction with context takeover keeps its own zlib stream for the life
 *   of the connection. A direction without it needs no state between
 *   messages, so it borrows a stream from a process-wide pool and gives it
 *   back reset: idle connections then hold no zlib memory at all.
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

type Owned<T> = T & { pwOwner: PerMessageDeflate | null };
type Inflater = Owned<zlib.InflateRaw>;
type Deflater = Owned<zlib.DeflateRaw>;

/** Idle streams for directions without context takeover, by settings. */
const deflatePool = new Map<string, Deflater[]>();
const inflatePool = new Map<string, Inflater[]>();
/** Idle streams kept per settings; more than the limiter's concurrency are rarely in use at once. */
const POOL_MAX = 16;

function onDeflateData(this: Deflater, chunk: Buffer): void {
  this.pwOwner?.deflateChunk(chunk);
}
function onInflateData(this: Inflater, chunk: Buffer): void {
  this.pwOwner?.inflateChunk(chunk);
}
function onInflateError(this: Inflater, err: Error): void {
  this.pwOwner?.inflateFailed(err);
}
function onInflateEnd(this: Inflater): void {
  // The peer ended a message with a final block (BFINAL): this stream is spent.
  this.pwOwner?.inflateEnded(this);
}
function onDeflateError(this: Deflater, err: Error): void {
  this.pwOwner?.deflateFailed(err);
}

export class PerMessageDeflate {
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
      inflater = (this.recvNoContextTakeover ? inflatePool.get(this.inflateKey)?.pop() : undefined) ??
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
      release(inflatePool, this.inflateKey, inflater);
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
      deflater = (this.sendNoContextTakeover ? deflatePool.get(this.deflateKey)?.pop() : undefined) ??
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
      release(deflatePool, this.deflateKey, deflater);
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
function stripTrailer(chunks: Buffer[], length: number): Buffer | null {
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

function newInflater(windowBits: number): Inflater {
  // Every write is sync-flushed, so the write callback means "all output for it is out".
  const s = zlib.createInflateRaw({ windowBits, flush: zlib.constants.Z_SYNC_FLUSH }) as Inflater;
  s.pwOwner = null;
  s.on('data', onInflateData);
  s.on('error', onInflateError);
  s.on('end', onInflateEnd);
  return s;
}

function newDeflater(windowBits: number, level: number, memLevel: number): Deflater {
  // windowBits 8 is raised to 9 by Node for raw deflate; zlib then never emits a distance
  // above 512 - 262 = 250 bytes, so the peer's 256-byte window still holds every match.
  const s = zlib.createDeflateRaw({ windowBits, level, memLevel, flush: zlib.constants.Z_SYNC_FLUSH }) as Deflater;
  s.pwOwner = null;
  s.on('data', onDeflateData);
  s.on('error', onDeflateError);
  return s;
}

function release<T extends Inflater | Deflater>(pool: Map<string, T[]>, key: string, stream: T): void {
  stream.pwOwner = null;
  let list = pool.get(key);
  if (!list) pool.set(key, (list = []));
  if (list.length < POOL_MAX) {
    stream.reset(); // drop the window: the next borrower starts with no context
    list.push(stream);
  } else {
    stream.close();
  }
}

function destroyStream(stream: Inflater | Deflater): void {
  stream.pwOwner = null;
  stream.close();
}

/** Streams idle in the shared pools (for tests and stats). */
export function pooledStreamCount(): number {
  let n = 0;
  for (const list of deflatePool.values()) n += list.length;
  for (const list of inflatePool.values()) n += list.length;
  return n;
}

/** The compression settings a PreparedMessage is compressed for. */
export interface SharedCompression {
  sharedKey: string | null;
  sendWindowBits: number;
  level: number;
  memLevel: number;
}

type FrameCallback = (err: Error | null, frame: Buffer) => void;

/**
 * A message to send to many connections: framed once, and compressed once
 * per set of compression settings among receivers that reset context after
 * each message (server_no_context_takeover). Server frames only (unmasked).
 *
 * ws.sendPrepared(message) picks the right frame; the frames can also be
 * taken directly: `message.frame` (plain) and `message.compressedFrame(codec, cb)`,
 * then `ws.sendFrame(frame)`.
 */
export class PreparedMessage {
  readonly data: Buffer;
  readonly isBinary: boolean;
  private plain: Buffer | null = null;
  /** Finished frames, or the callbacks waiting for a compression in flight. */
  private readonly compressed = new Map<string, Buffer | FrameCallback[]>();

  constructor(data: string | Buffer, isBinary = typeof data !== 'string') {
    this.data = typeof data === 'string' ? Buffer.from(data) : data;
    this.isBinary = isBinary;
  }

  /** The uncompressed frame. */
  get frame(): Buffer {
    if (this.plain === null) {
      const opcode = this.isBinary ? 2 : 1;
      const frame = Buffer.allocUnsafe(headerLength(this.data.length, false) + this.data.length);
      const offset = writeHeader(frame, 0, opcode, this.data.length, true, false, null);
      this.data.copy(frame, offset);
      this.plain = frame;
    }
    return this.plain;
  }

  /** The compressed frame for these settings if it is ready (no waiting). */
  compressedFrameIfReady(codec: SharedCompression): Buffer | null {
    const entry = codec.sharedKey === null ? undefined : this.compressed.get(codec.sharedKey);
    return Buffer.isBuffer(entry) ? entry : null;
  }

  /**
   * The frame with RSV1 for receivers with these settings, compressed on the
   * first call (through the zlib limiter) and shared by every later one.
   * The codec must have sharedKey (its sender resets context per message).
   */
  compressedFrame(codec: SharedCompression, callback: FrameCallback): void {
    const key = codec.sharedKey;
    if (key === null) throw new Error('compressedFrame needs a codec without context takeover on its sending side');
    const entry = this.compressed.get(key);
    if (Buffer.isBuffer(entry)) return void callback(null, entry);
    if (entry) return void entry.push(callback);
    const waiting: FrameCallback[] = [callback];
    this.compressed.set(key, waiting);
    const data = this.data;
    zlibLimiter.add(() => {
      zlib.deflateRaw(data, {
        windowBits: codec.sendWindowBits, level: codec.level, memLevel: codec.memLevel,
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
      }, (err, out) => {
        zlibLimiter.done();
        let frame: Buffer | null = null;
        let error: Error | null = err;
        if (!err) {
          const payload = data.length === 0 ? Buffer.from([0x00]) : stripTrailer([out], out.length);
          if (payload === null) error = new Error('deflate output does not end with a sync flush');
          else frame = frameOf(this.isBinary ? 2 : 1, payload);
        }
        if (frame) this.compressed.set(key, frame);
        else this.compressed.delete(key);
        for (const cb of waiting) cb(error, frame ?? EMPTY);
      });
    });
  }
}

function frameOf(opcode: number, payload: Buffer): Buffer {
  const header = encodeHeader(opcode, payload.length, true, true);
  const frame = Buffer.allocUnsafe(header.length + payload.length);
  header.copy(frame, 0);
  payload.copy(frame, header.length);
  return frame;
}

/** `perMessageDeflate` option of the server and the client: true for the defaults. */
export type PerMessageDeflateSetting = boolean | DeflateOptions | undefined;

/** Resolves the option to settings (null when off), checking them so bad ones fail at construction. */
export function deflateSettings(setting: PerMessageDeflateSetting): DeflateOptions | null {
  if (!setting) return null;
  const options = setting === true ? {} : setting;
  validateDeflateOptions(options);
  return options;
}

export type ServerNegotiation =
  | { ok: true; extensions: string; deflate: PerMessageDeflate | null }
  | { ok: false; message: string };

/**
 * Server side of the handshake: reads the client's Sec-WebSocket-Extensions
 * and, when an offer is acceptable, makes the codec and the answer for the
 * 101. A header that does not parse is a bad request (400, as ws does).
 */
export function negotiateServerDeflate(header: string | string[] | undefined, settings: DeflateOptions | null, maxPayload: number): ServerNegotiation {
  if (settings === null || header === undefined) return { ok: true, extensions: '', deflate: null };
  let offers;
  try {
    offers = parseExtensions(Array.isArray(header) ? header.join(', ') : header);
  } catch (err) {
    return { ok: false, message: `invalid Sec-WebSocket-Extensions: ${(err as Error).message}` };
  }
  const agreement = negotiateAsServer(offers, settings);
  if (agreement === null) return { ok: true, extensions: '', deflate: null };
  return {
    ok: true,
    extensions: formatExtensions([agreement.answer]),
    deflate: new PerMessageDeflate(agreement.params, { ...settings, isServer: true, maxPayload }),
  };
}

/** Client side: the Sec-WebSocket-Extensions value to offer. */
export function clientOfferHeader(settings: DeflateOptions): string {
  return formatExtensions([clientOffer(settings)]);
}

/** Client side: checks the server's answer; the codec, or an Error to fail the connection with. */
export function acceptServerDeflate(answer: string, settings: DeflateOptions, maxPayload: number): PerMessageDeflate | Error {
  try {
    const params = acceptAsClient(parseExtensions(answer), settings);
    return new PerMessageDeflate(params, { ...settings, isServer: false, maxPayload });
  } catch (err) {
    return err as Error;
  }
}
