/**
 * Hidden-iframe streaming on /push/iframe (docs/PROTOCOL.md §3.2): the
 * server's endless page calls `parent.pushwire.cb.<key>(message)`, through
 * its guard `_()`: only from a frame whose parent is of its own origin.
 */
import type { Connector, Message } from '../core/types.js';
import { REOPEN } from './poll.js';
import { utf8Length } from './text.js';

/** The streams' callbacks, by key: reachable as `pushwire.cb` (api.ts). */
export const callbacks: Record<string, (m: Message) => void> = {};
let nextKey = 0;

function readable(frame: HTMLIFrameElement | null): Document | null {
  try {
    return frame?.contentDocument ?? null;
  } catch {
    return null;
  }
}

export const iframe: Connector = (opening, link) => {
  const key = 's' + ++nextKey;
  const stall = opening.options.stallTimeout;
  let frame: HTMLIFrameElement | null = null;
  let watch: ReturnType<typeof setInterval> | undefined;
  let observer: MutationObserver | null = null;
  let alive = Date.now();
  let started = false;
  const callback = 'pushwire.cb.' + key;
  const url = opening.url('/push/iframe') + '&callback=' + callback;
  callbacks[key] = (m) => {
    alive = Date.now();
    link.opened();
    link.bytes(utf8Length(`<script>_()&&parent.${callback}(${JSON.stringify(m)})</script>`));
    link.message(m);
  };
  const start = () => {
    started = true;
    frame = document.createElement('iframe');
    frame.hidden = true;
    frame.title = 'pushwire stream';
    frame.tabIndex = -1;
    frame.onload = () => {
      // The stream ended. A document we can read, of type HTML, was a stream (the server ends
      // them after a bound); anything else (an error answer, a network error page) is a failure.
      const doc = readable(frame);
      if (doc && doc.contentType === 'text/html') link.opened();
      link.ended();
    };
    link.request();
    frame.src = url;
    document.body.appendChild(frame);
    // A connection cut mid-stream fires no event at all: the iframe just stays "loading".
    // So watch its document grow (messages, and the server's heartbeat comments), and
    // give up on it when it has been silent longer than the heartbeat period allows.
    alive = Date.now();
    watch = setInterval(() => {
      const doc = readable(frame);
      if (!observer && doc && doc.readyState === 'loading' && doc.URL.indexOf('/push/iframe') !== -1) {
        link.opened();
        observer = new MutationObserver(() => (alive = Date.now()));
        observer.observe(doc, { childList: true, subtree: true, characterData: true });
      }
      if (Date.now() - alive > stall) link.ended();
    }, Math.min(1000, stall / 4));
  };
  // Added before the page's load event, a never-ending iframe would hold that event back forever.
  if (document.readyState === 'complete') start();
  else addEventListener('load', start, { once: true });
  return {
    update: REOPEN,
    stop() {
      delete callbacks[key];
      clearInterval(watch);
      observer?.disconnect();
      if (!started) removeEventListener('load', start);
      if (frame) {
        frame.onload = null;
        frame.remove();
      }
    },
  };
};
