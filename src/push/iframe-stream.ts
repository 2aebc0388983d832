import type http from 'node:http';
import type { Router } from '../http/router.js';
import type { Cursor } from './channel-set.js';
import { gapMessage, type PushMessage } from './message.js';
import { callbackParam, subscriptionParams, type SubscriptionParams } from './params.js';
import { StreamRegistry, StreamSubscription } from './stream.js';

// `_()` is the guard every message script goes through (docs/PROTOCOL.md §3.5,
// "Only for a page of its own origin"): true only in a frame whose parent is of
// this document's origin. In a popup `parent` is the window itself, and a
// cross-origin parent's `location.origin` throws. Without it, a foreign page
// could load this URL in a popup or frame with a callback such as
// `opener.document.body.remove` and make it run on a page of this origin.
const GUARD = '<script>function _(){try{return parent!==self&&parent.location.origin===location.origin}catch(e){return!1}}</script>\n';
const HEAD = '<!doctype html>\n<html><head><meta charset="utf-8"><title>pushwire stream</title>' + GUARD + '</head><body>\n';
// Browsers hold back rendering (and so running scripts) of a document until
// about 1 KiB has arrived; the padding makes the first message run at once.
const PRELUDE = HEAD + '<!--' + ' '.repeat(1024 - HEAD.length) + '-->\n';
/** docs/PROTOCOL.md §3.5: only a page of the server's own origin may frame the stream. */
const FRAME_HEADERS = { 'Content-Security-Policy': "frame-ancestors 'self'", 'X-Frame-Options': 'SAMEORIGIN' } as const;
const HEARTBEAT = Buffer.from('<!-- -->\n');
const EPILOGUE = '</body></html>\n';

/**
 * Hidden-iframe streaming (the "forever frame" of Comet), `GET
 * /push/iframe?channel=C&since=N&callback=F`: one `<script>_()&&parent.F(MSG)</script>`
 * per message, `_()` the prelude's same-origin guard (with `channels=SPEC`, MSG names its channel: docs/PROTOCOL.md §3.11). The document grows with every script the browser keeps, so the
 * server ends it after a byte or time bound; the page then reloads the frame
 * with its last id.
 */
class IframeStream extends StreamSubscription {
  readonly contentType = 'text/html; charset=utf-8';
  override readonly headers = FRAME_HEADERS;
  readonly maxBytes: number;
  readonly maxAge: number;

  constructor(streams: StreamRegistry, res: http.ServerResponse, params: SubscriptionParams, readonly callback: string) {
    super(streams, res, params, 'iframe');
    this.maxBytes = streams.ctx.settings.iframeMaxBytes;
    this.maxAge = streams.ctx.settings.iframeMaxAge;
  }

  prelude(): string { return PRELUDE; }
  message(message: PushMessage, cursor: Cursor): void { this.write(message.forms(cursor.tagged).iframe(this.callback)); }
  gap(cursor: Cursor): void { this.write(gapMessage(cursor.channel, cursor.last).forms(cursor.tagged).iframe(this.callback)); }
  heartbeat(): Buffer { return HEARTBEAT; }
  epilogue(): string { return EPILOGUE; }
}

export function mountIframe(router: Router, streams: StreamRegistry): void {
  router.get('/push/iframe', (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const params = subscriptionParams(url);
    const callback = callbackParam(url);
    return streams.start(req, url, new IframeStream(streams, res, params, callback));
  });
}
