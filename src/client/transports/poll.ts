/** Short polling (a pause between requests) and long polling (none: the server holds each one), docs/PROTOCOL.md §3.3–3.4. */
import type { Connection, Connector, Link, PollAnswer } from '../core/types.js';
import { utf8Length } from './text.js';

/** A long poll the server is still holding after this long was accepted: that counts as open. */
const HELD_IS_OPEN = 1000;

export const REOPEN: Connection['update'] = () => false;

export const longpoll: Connector = (opening, link) => {
  const timeout = opening.options.longPollTimeout;
  // The server answers by `timeout`; a request still open well after that sits on a dead connection.
  return pollLoop(link, () => opening.url('/push/longpoll') + '&timeout=' + timeout, 0, timeout + opening.options.stallTimeout);
};

export const poll: Connector = (opening, link) =>
  pollLoop(link, () => opening.url('/push/poll'), opening.options.pollInterval, opening.options.stallTimeout);

function pollLoop(link: Link, url: () => string, pause: number, limit: number): Connection {
  const abort = new AbortController();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let held: ReturnType<typeof setTimeout> | undefined;
  let overdue: ReturnType<typeof setTimeout> | undefined;
  const settle = () => {
    clearTimeout(held);
    clearTimeout(overdue);
  };
  const once = () => {
    link.request();
    if (pause === 0) held = setTimeout(link.opened, HELD_IS_OPEN);
    overdue = setTimeout(() => abort.abort(), limit);
    fetch(url(), { cache: 'no-store', signal: abort.signal })
      .then(async (res) => {
        const text = await res.text();
        link.bytes(utf8Length(text));
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return JSON.parse(text) as PollAnswer;
      })
      .then(
        (answer) => {
          settle();
          if (stopped) return;
          link.opened();
          link.answer(answer);
          if (!stopped) timer = setTimeout(once, pause);
        },
        () => {
          settle();
          if (!stopped) link.ended();
        },
      );
  };
  once();
  return {
    update: REOPEN,
    stop() {
      stopped = true;
      settle();
      clearTimeout(timer);
      abort.abort();
    },
  };
}
