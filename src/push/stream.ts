import { HttpError, sendError } from '../http/respond.js';
import type http from 'node:http';
import { PushRequest, channelNames, whenAdmitted } from './authorize.js';
import { ChannelSet, type ChannelSink, type Cursor } from './channel-set.js';
import type { PushMessage } from './message.js';
import type { SubscriptionParams } from './params.js';
import { STREAM_HEADERS, type PushContext } from './settings.js';
import { WriteBatch, type BatchTarget } from '../http/write-batch.js';

/** How long an ended stream may take to drain before its connection is dropped. */
const FINISH_TIMEOUT = 10_000;

/**
 * One open streaming response (SSE or hidden iframe): a chunked HTTP answer
 * that carries every message of its channels as it is published. Subclasses
 * say how a message, a gap, a heartbeat and the end look on the wire.
 */
export abstract class StreamSubscription implements ChannelSink, BatchTarget {
  bytes = 0;
  readonly openedAt = Date.now();
  closed = false;
  /** The head is sent (the log has answered the subscription's reads). */
  started = false;
  /** The stream's channels and their cursors; subscribed to the log by StreamRegistry.start. */
  readonly channels: ChannelSet;
  /** Chunks owed until the end of the turn (ctx.writes), which then go as one HTTP chunk. */
  batched: Buffer[] | null = null;
  batchedBytes = 0;

  constructor(
    protected readonly streams: StreamRegistry,
    readonly res: http.ServerResponse,
    /** The channels asked for, with their cursors, and whether messages name their channel. */
    readonly params: SubscriptionParams,
    readonly technique: 'sse' | 'iframe',
  ) {
    const { ctx } = streams;
    this.channels = new ChannelSet(ctx.log, this, ctx.metrics[technique], ctx.limits.quotaFor(res.req.socket.remoteAddress));
  }

  abstract readonly contentType: string;
  /** Headers of this technique's own, sent with STREAM_HEADERS. */
  readonly headers: Readonly<Record<string, string>> = {};
  /** Sent with the head, at once: what makes the client start rendering / listening. */
  abstract prelude(): Buffer | string;
  abstract message(message: PushMessage, cursor: Cursor): void;
  abstract gap(cursor: Cursor): void;
  abstract heartbeat(): Buffer;
  /** Written before the final chunk when the server ends the stream. */
  abstract epilogue(): Buffer | string | null;
  /** Bytes and age after which the server ends the stream (the client reconnects with its last id). */
  abstract readonly maxBytes: number;
  abstract readonly maxAge: number;

  write(chunk: Buffer | string): void {
    if (this.closed) return;
    const res = this.res;
    const writes = this.streams.ctx.writes;
    if (writes !== null) {
      const part = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      writes.add(this, part);
      this.bytes += part.length;
    } else {
      res.write(chunk);
      this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    }
    if (res.writableLength + this.batchedBytes > this.streams.ctx.settings.maxQueuedBytes) this.streams.suspect(this);
    if (this.bytes > this.maxBytes) this.streams.end(this);
  }

  /** The chunks owed: corked, so they leave as one HTTP chunk in one write. */
  writeBatched(data: Buffer | Buffer[]): void {
    const res = this.res;
    if (res.destroyed) return;
    if (Buffer.isBuffer(data)) {
      res.write(data);
      return;
    }
    res.cork();
    for (let i = 0; i < data.length; i++) res.write(data[i]!);
    res.uncork();
  }
}

/** The open streams of both streaming techniques: one heartbeat timer for all. */
export class StreamRegistry {
  private readonly open = new Set<StreamSubscription>();
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  /** Streams whose queue passed the bound during this turn of the event loop. */
  private readonly suspects = new Set<StreamSubscription>();
  private readonly checkSuspects = (): void => {
    const limit = this.ctx.settings.maxQueuedBytes;
    for (const stream of this.suspects) {
      if (!stream.closed && stream.res.writableLength > limit) this.cutOff(stream);
    }
    this.suspects.clear();
  };

  constructor(readonly ctx: PushContext) {}

  get count(): number { return this.open.size; }

  /**
   * Once the request is admitted (limits, then the authorization hook),
   * subscribes, and once the log has answered sends the head and prelude,
   * then each channel's gap notice or backlog past its cursor, then live
   * messages. A refusal is thrown (or rejected) for the router; a log that
   * cannot be read (a shared log whose store is down) gets 503 before any
   * head is sent.
   */
  start(req: http.IncomingMessage, url: URL, stream: StreamSubscription): void | Promise<void> {
    const { channels } = stream.params;
    this.ctx.limits.subscriptionsPerConnection(channels.length);
    const admission = this.ctx.gate.admit(new PushRequest(req, url, stream.technique), channelNames(channels));
    return whenAdmitted(admission, () => stream.res.destroyed, () => this.begin(req, stream));
  }

  private async begin(req: http.IncomingMessage, stream: StreamSubscription): Promise<void> {
    const { res } = stream;
    if (this.closing) {
      return sendError(res, 503, 'server is shutting down', { Connection: 'close' });
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Content-Type': stream.contentType, ...STREAM_HEADERS, ...stream.headers });
      return void res.end();
    }
    this.ctx.limits.streams(this.open.size);
    this.ctx.limits.channels(channelNames(stream.params.channels));
    this.open.add(stream);
    // A request pipelined behind another has no socket yet, and its response never
    // emits 'close': Node closes the request instead when the connection goes.
    const release = (): void => this.release(stream);
    res.once('close', release);
    req.once('close', release);
    try {
      await stream.channels.add(stream.params.channels, stream.params.tagged, () => {
        res.writeHead(200, { 'Content-Type': stream.contentType, ...STREAM_HEADERS, ...stream.headers });
        stream.started = true;
        res.socket?.setNoDelay(true);
        stream.write(stream.prelude());
      });
    } catch (err) {
      this.release(stream);
      if (res.headersSent || res.destroyed) return;
      throw err instanceof HttpError ? err : new HttpError(503, `cannot read the channel log: ${(err as Error)?.message}`);
    }
    if (stream.closed || !this.open.has(stream)) return;
    if (!this.timer) {
      this.timer = setInterval(() => this.beat(), this.ctx.settings.heartbeatInterval);
      this.timer.unref();
    }
  }

  /** Ends a stream properly: its epilogue, then the final chunk. */
  end(stream: StreamSubscription): void {
    if (stream.closed) return;
    if (!stream.started) {
      // Still waiting for the log: no head went out, so a plain refusal.
      this.release(stream);
      return sendError(stream.res, 503, 'server is shutting down', { Connection: 'close' });
    }
    WriteBatch.writeNow(stream);
    const epilogue = stream.epilogue();
    if (epilogue) stream.res.write(epilogue);
    this.release(stream);
    const { res } = stream;
    res.end();
    // A client that stopped reading would keep the ended response (and its queue) forever.
    if (!res.writableFinished) {
      const timer = setTimeout(() => res.destroy(), FINISH_TIMEOUT);
      timer.unref();
      res.once('close', () => clearTimeout(timer));
    }
  }

  /**
   * Node corks a chunked response until the next tick, so everything written
   * in one turn is queued in user space first (the buffers themselves are the
   * messages' shared ones). Judge the queue once that turn is over: what the
   * kernel did not take then is the client's own backlog.
   */
  suspect(stream: StreamSubscription): void {
    if (this.suspects.size === 0) setImmediate(this.checkSuspects);
    this.suspects.add(stream);
  }

  /** A client too slow to read: drop the connection and what is queued for it; it resumes with its last id. */
  cutOff(stream: StreamSubscription): void {
    this.ctx.metrics[stream.technique].cutOff.value++;
    this.release(stream);
    stream.res.destroy();
  }

  release(stream: StreamSubscription): void {
    if (stream.closed) return;
    stream.closed = true;
    WriteBatch.drop(stream);
    this.open.delete(stream);
    stream.channels.close();
    if (this.open.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private beat(): void {
    const now = Date.now();
    for (const stream of this.open) {
      if (!stream.started) continue;
      if (now - stream.openedAt >= stream.maxAge) this.end(stream);
      else stream.write(stream.heartbeat());
    }
  }

  /** Shutdown (docs/PROTOCOL.md §3.9): every open stream is ended with its final chunk. */
  close(): void {
    this.closing = true;
    for (const stream of [...this.open]) this.end(stream);
  }
}
