import zlib from 'node:zlib';

/**
 * Raw zlib streams for permessage-deflate, and the process-wide pool of idle
 * ones. A direction without context takeover needs no state between
 * messages, so its codec borrows a stream per message and gives it back
 * reset: idle connections then hold no zlib memory at all.
 *
 * A stream gets its listeners once, at creation (no closure per message or
 * per owner); they forward what it reports to whichever codec owns it now.
 */

/** What an inflater reports to the codec that holds it. */
export interface InflateOwner {
  inflateChunk(chunk: Buffer): void;
  inflateFailed(err: Error): void;
  /** The peer ended a message with a final block (BFINAL): this stream is spent. */
  inflateEnded(stream: Inflater): void;
}

/** What a deflater reports to the codec that holds it. */
export interface DeflateOwner {
  deflateChunk(chunk: Buffer): void;
  deflateFailed(err: Error): void;
}

export type Inflater = zlib.InflateRaw & { pwOwner: InflateOwner | null };
export type Deflater = zlib.DeflateRaw & { pwOwner: DeflateOwner | null };

/** Idle streams kept per settings; more than the limiter's concurrency are rarely in use at once. */
const POOL_MAX = 16;

/** Idle streams by settings key (the caller's: equal keys must mean equal settings). */
class StreamPool<T extends Inflater | Deflater> {
  private readonly idle = new Map<string, T[]>();

  /** An idle stream with these settings, if there is one; the caller sets its owner. */
  take(key: string): T | undefined {
    return this.idle.get(key)?.pop();
  }

  /** Takes a stream back, reset so the next borrower starts with no context (closed if the pool is full). */
  give(key: string, stream: T): void {
    stream.pwOwner = null;
    let list = this.idle.get(key);
    if (!list) this.idle.set(key, (list = []));
    if (list.length < POOL_MAX) {
      stream.reset();
      list.push(stream);
    } else {
      stream.close();
    }
  }

  get size(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }
}

export const inflatePool = new StreamPool<Inflater>();
export const deflatePool = new StreamPool<Deflater>();

/** Streams idle in the shared pools (for tests and stats). */
export function pooledStreamCount(): number {
  return inflatePool.size + deflatePool.size;
}

function onInflateData(this: Inflater, chunk: Buffer): void {
  this.pwOwner?.inflateChunk(chunk);
}
function onInflateError(this: Inflater, err: Error): void {
  this.pwOwner?.inflateFailed(err);
}
function onInflateEnd(this: Inflater): void {
  this.pwOwner?.inflateEnded(this);
}
function onDeflateData(this: Deflater, chunk: Buffer): void {
  this.pwOwner?.deflateChunk(chunk);
}
function onDeflateError(this: Deflater, err: Error): void {
  this.pwOwner?.deflateFailed(err);
}

export function newInflater(windowBits: number): Inflater {
  // Every write is sync-flushed, so the write callback means "all output for it is out".
  const s = zlib.createInflateRaw({ windowBits, flush: zlib.constants.Z_SYNC_FLUSH }) as Inflater;
  s.pwOwner = null;
  s.on('data', onInflateData);
  s.on('error', onInflateError);
  s.on('end', onInflateEnd);
  return s;
}

export function newDeflater(windowBits: number, level: number, memLevel: number): Deflater {
  // windowBits 8 is raised to 9 by Node for raw deflate; zlib then never emits a distance
  // above 512 - 262 = 250 bytes, so the peer's 256-byte window still holds every match.
  const s = zlib.createDeflateRaw({ windowBits, level, memLevel, flush: zlib.constants.Z_SYNC_FLUSH }) as Deflater;
  s.pwOwner = null;
  s.on('data', onDeflateData);
  s.on('error', onDeflateError);
  return s;
}

/** Ends a stream for good; whatever it still reports goes nowhere. */
export function destroyStream(stream: Inflater | Deflater): void {
  stream.pwOwner = null;
  stream.close();
}
