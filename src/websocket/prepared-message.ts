import zlib from 'node:zlib';
import { Opcode } from '../protocol/constants.js';
import { encodeFrame } from '../protocol/frame-encoder.js';
import { stripTrailer } from './deflate-codec.js';
import { zlibLimiter } from './zlib-limiter.js';

const EMPTY = Buffer.alloc(0);

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

  private get opcode(): number {
    return this.isBinary ? Opcode.Binary : Opcode.Text;
  }

  /** The uncompressed frame. */
  get frame(): Buffer {
    return (this.plain ??= encodeFrame(this.opcode, this.data));
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
          else frame = encodeFrame(this.opcode, payload, true, true); // RSV1: compressed
        }
        if (frame) this.compressed.set(key, frame);
        else this.compressed.delete(key);
        for (const cb of waiting) cb(error, frame ?? EMPTY);
      });
    });
  }
}

