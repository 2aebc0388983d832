import type http from 'node:http';
import type { Router } from '../http/router.js';
import { gapMessage, type PushMessage } from './message.js';
import { channelParam, sinceParam } from './params.js';
import { StreamRegistry, StreamSubscription } from './stream.js';

const HEARTBEAT = Buffer.from(': heartbeat\n\n');

/**
 * Server-Sent Events, `GET /push/sse?channel=C&since=N`: each message as
 * `id:`/`event:`/`data:` lines, so EventSource's own reconnect sends
 * `Last-Event-ID` and resumes exactly where it left off.
 */
class SseStream extends StreamSubscription {
  readonly contentType = 'text/event-stream';
  readonly maxBytes = Infinity;
  readonly maxAge = Infinity;

  prelude(): string {
    // A comment first, so the client sees the stream open at once; then the reconnect delay.
    return `: pushwire ${this.channel}\nretry: ${this.streams.ctx.settings.sseRetry}\n\n`;
  }

  encode(message: PushMessage): Buffer { return message.sse(); }
  gap(last: number): Buffer { return gapMessage(this.channel, last).sse(); }
  heartbeat(): Buffer { return HEARTBEAT; }
  epilogue(): null { return null; }
}

export function mountSse(router: Router, streams: StreamRegistry): void {
  router.get('/push/sse', (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const channel = channelParam(url);
    const since = sinceParam(url, streams.ctx.log, channel, req);
    streams.start(req, new SseStream(streams, res, channel), since);
  });
}
