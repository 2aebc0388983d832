import type http from 'node:http';
import type { Router } from '../http/router.js';
import type { Cursor } from './channel-set.js';
import { gapMessage, type PushMessage } from './message.js';
import { subscriptionParams } from './params.js';
import { StreamRegistry, StreamSubscription } from './stream.js';

const HEARTBEAT = Buffer.from(': heartbeat\n\n');

/**
 * Server-Sent Events, `GET /push/sse?channel=C&since=N`: each message as
 * `id:`/`event:`/`data:` lines, so EventSource's own reconnect sends
 * `Last-Event-ID` and resumes exactly where it left off. With `channels=SPEC`
 * the id is the compound cursor of every channel (docs/PROTOCOL.md §3.11),
 * so the same header resumes them all.
 */
class SseStream extends StreamSubscription {
  readonly contentType = 'text/event-stream';
  readonly maxBytes = Infinity;
  readonly maxAge = Infinity;

  prelude(): string {
    // A comment first, so the client sees the stream open at once; then the reconnect delay.
    const names = this.params.channels.length === 1 ? this.params.channels[0]!.channel : `${this.params.channels.length} channels`;
    return `: pushwire ${names}\nretry: ${this.streams.ctx.settings.sseRetry}\n\n`;
  }

  message(message: PushMessage, cursor: Cursor): void {
    if (!cursor.tagged) return this.write(message.sse());
    // The id line is this stream's own; the rest is the message's, shared by every stream.
    this.write(`id: ${this.channels.compoundCursor()}\n`);
    this.write(message.taggedSseTail());
  }

  gap(cursor: Cursor): void {
    const notice = gapMessage(cursor.channel, cursor.last);
    if (!cursor.tagged) return this.write(notice.sse());
    this.write(`id: ${this.channels.compoundCursor()}\n`);
    this.write(notice.taggedSseTail());
  }

  heartbeat(): Buffer { return HEARTBEAT; }
  epilogue(): null { return null; }
}

export function mountSse(router: Router, streams: StreamRegistry): void {
  router.get('/push/sse', (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    return streams.start(req, url, new SseStream(streams, res, subscriptionParams(url, req), 'sse'));
  });
}
