/**
 * Server-Sent Events on /push/sse (docs/PROTOCOL.md §3.5): with the browser's
 * EventSource when every listener names its events, else read with fetch(),
 * where every event name arrives and the bytes are counted exactly.
 */
import type { Connector, Link, Opening } from '../core/types.js';
import { REOPEN } from './poll.js';
import { toMessage, utf8Length } from './text.js';

export const sse: Connector = (opening, link) => {
  const events = opening.events;
  const stop = events ? eventSource(opening, link, events) : fetchEventStream(opening, link);
  return { update: REOPEN, stop };
};

function eventSource(opening: Opening, link: Link, events: readonly string[]): () => void {
  link.request();
  const source = new EventSource(opening.url('/push/sse'));
  const onEvent = (ev: Event) => {
    const e = ev as MessageEvent<string>;
    link.bytes(utf8Length(`id: ${e.lastEventId}\nevent: ${e.type}\ndata: ${e.data}\n\n`));
    const m = toMessage(e.data);
    if (m) link.message(m);
  };
  for (const name of events) source.addEventListener(name, onEvent);
  source.onopen = () => link.opened();
  // EventSource would reconnect by itself; we reconnect ourselves, with our cursors and backoff.
  source.onerror = () => {
    source.close();
    link.ended();
  };
  return () => source.close();
}

function fetchEventStream(opening: Opening, link: Link): () => void {
  const abort = new AbortController();
  let stopped = false;
  // Silent longer than the heartbeat period allows: the connection is dead (a cut one may never error).
  const stall = opening.options.stallTimeout;
  let silent = setTimeout(() => abort.abort(), stall);
  link.request();
  fetch(opening.url('/push/sse'), { cache: 'no-store', signal: abort.signal, headers: { Accept: 'text/event-stream' } })
    .then(async (res) => {
      if (!res.ok || !res.body || (res.headers.get('Content-Type') ?? '').indexOf('text/event-stream') !== 0) throw new Error('HTTP ' + res.status);
      link.opened();
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffered = '';
      let data: string[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        clearTimeout(silent);
        silent = setTimeout(() => abort.abort(), stall);
        link.bytes(value.byteLength);
        buffered += decoder.decode(value, { stream: true });
        const lines = buffered.split(/\r\n|\r|\n/);
        buffered = lines.pop()!;
        for (const line of lines) {
          if (line === '') {
            const m = data.length ? toMessage(data.join('\n')) : null;
            if (m) link.message(m);
            data = [];
            continue;
          }
          // id and event are in the message object too; only data is read.
          if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
        }
      }
    })
    .catch(() => undefined)
    .then(() => {
      clearTimeout(silent);
      if (!stopped) link.ended();
    });
  return () => {
    stopped = true;
    clearTimeout(silent);
    abort.abort();
  };
}
