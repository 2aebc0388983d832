/*! pushwire browser client (MIT): subscribe over WebSocket, SSE, iframe streaming, long or short polling. Source: src/client/push.ts */
/**
 * pushwire's browser client, served as /push.js: one API over the five
 * server-push techniques of CONTRACT.md "Subscribing", with fallback,
 * reconnection and exact resume. A classic script with no dependencies:
 *
 *     <script src="/push.js"></script>
 *     pushwire.subscribe('chat', (m) => show(m.data));
 *     pushwire.emit('chat message', 'hello');
 *
 * Every message carries its channel id; the client remembers the last id it
 * delivered and reconnects with `since` set to it, so nothing is missed and
 * nothing is delivered twice, whatever technique it reconnects over.
 */
namespace pushwire {
  export type Transport = 'websocket' | 'sse' | 'iframe' | 'longpoll' | 'poll';
  /** The fallback order: best first. */
  export const TRANSPORTS: readonly Transport[] = ['websocket', 'sse', 'iframe', 'longpoll', 'poll'];

  export interface Message {
    id: number;
    event: string;
    data: unknown;
  }

  export interface Stats {
    /** The technique in use (or being tried). */
    transport: Transport;
    state: 'connecting' | 'open' | 'retrying' | 'closed';
    /** HTTP requests made: each poll, each stream or upgrade opened, each probe. */
    requests: number;
    /** Body bytes received (HTTP headers not counted; for SSE and iframe the bytes of each event as framed). */
    bytes: number;
    /** Messages handed to onMessage. */
    messages: number;
    /** The cursor: the last id delivered (or reloaded past on a gap); null before it is known. */
    lastId: number | null;
    /** Times the technique changed for the next one in the fallback order. */
    fallbacks: number;
  }

  export interface SubscribeOptions {
    /** One technique, or an order to fall back along (default TRANSPORTS). */
    transport?: Transport | readonly Transport[];
    /** The last id already seen (default: only messages published from now on). */
    since?: number;
    /** The server, e.g. 'http://127.0.0.1:3000' (default: this page's origin). */
    base?: string;
    /**
     * Event names to listen for over SSE. EventSource delivers only the names it
     * is told; without this list SSE is read with fetch() and every event arrives.
     */
    events?: readonly string[];
    /**
     * Messages were lost (a restart, or a cursor older than the server keeps):
     * reload the state. May return the id the reloaded state corresponds to;
     * later messages up to it are then skipped. Without it, the gap is handed
     * to onMessage as a `push:gap` message.
     */
    onGap?: (last: number) => number | void | Promise<number | void>;
    /** Called whenever stats change. */
    onStatus?: (stats: Stats) => void;
    /** Short-polling period, ms (default 2000). */
    pollInterval?: number;
    /** Long-poll hold, ms (default 25000). */
    longPollTimeout?: number;
    /**
     * A stream silent (no message, no heartbeat) for this long is taken for dead and
     * reconnected, ms (default 35000: the server's heartbeat comes at least every 25 s).
     * A cut connection can leave an iframe "loading" forever with no event to tell.
     */
    stallTimeout?: number;
    /** Reconnect backoff: first delay and cap, ms (defaults 500 and 15000), with jitter. */
    retryMin?: number;
    retryMax?: number;
  }

  export interface Subscription {
    readonly channel: string;
    readonly stats: Stats;
    close(): void;
  }

  /** A poll or long-poll answer (CONTRACT.md). */
  interface PollAnswer {
    messages: Message[];
    last: number;
    gap: boolean;
  }

  /** What a technique reports back to its subscription; calls from a superseded connection are ignored. */
  interface Link {
    readonly since: () => number;
    opened(): void;
    request(): void;
    bytes(n: number): void;
    message(m: Message): void;
    answer(a: PollAnswer): void;
    ended(): void;
  }

  type Connector = (sub: Sub, link: Link) => () => void;

  /** Iframe streams call `parent.pushwire.cb.<key>(message)`. */
  export const cb: Record<string, (m: Message) => void> = {};
  let nextKey = 0;

  /** Open WebSockets by base, so emit() can use one (as Socket.IO's emit does). */
  const sockets = new Map<WebSocket, string>();

  /** The server's gap signal (names beginning with `push:` are the server's own). */
  const GAP = 'push:gap';

  export function subscribe(channel: string, onMessage: (m: Message) => void, options: SubscribeOptions = {}): Subscription {
    return new Sub(channel, onMessage, options);
  }

  /**
   * Sends `{"event", "data"}` to the server: over an open WebSocket if this page
   * has one, else POST /push/emit (rejecting with the server's error on refusal).
   */
  export function emit(event: string, data: unknown, options: { base?: string } = {}): Promise<void> {
    const base = baseOf(options.base);
    const body = JSON.stringify({ event, data: data === undefined ? null : data });
    for (const [ws, wsBase] of sockets) {
      if (wsBase === base && ws.readyState === 1) {
        ws.send(body);
        return Promise.resolve();
      }
    }
    return fetch(base + '/push/emit', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body }).then(async (res) => {
      if (res.status === 202) return;
      let error = 'HTTP ' + res.status;
      try {
        error = (await res.json()).error || error;
      } catch {
        // not JSON: keep the status
      }
      throw new Error(error);
    });
  }

  function baseOf(base: string | undefined): string {
    return (base ?? location.origin).replace(/\/+$/, '');
  }

  class Sub implements Subscription {
    readonly channel: string;
    readonly stats: Stats;
    readonly base: string;
    readonly options: SubscribeOptions;
    private readonly onMessage: (m: Message) => void;
    private readonly order: readonly Transport[];
    private index = 0;
    /** Failed attempts of the current technique while the server answered plain HTTP. */
    private failures = 0;
    /** Reconnects since the last healthy connection, for the backoff. */
    private attempt = 0;
    private generation = 0;
    private stopLink: (() => void) | null = null;
    private timer: ReturnType<typeof setTimeout> | undefined;
    private closed = false;
    /** Messages held while onGap reloads the state. */
    private held: Message[] | null = null;
    private openedAt = 0;
    private delivered = false;

    constructor(channel: string, onMessage: (m: Message) => void, options: SubscribeOptions) {
      this.channel = channel;
      this.onMessage = onMessage;
      this.options = options;
      this.base = baseOf(options.base);
      const t = options.transport;
      this.order = t === undefined ? TRANSPORTS : typeof t === 'string' ? [t] : t.length ? t : TRANSPORTS;
      this.stats = { transport: this.order[0]!, state: 'connecting', requests: 0, bytes: 0, messages: 0, lastId: options.since ?? null, fallbacks: 0 };
      this.connect();
    }

    close(): void {
      this.closed = true;
      this.generation++;
      clearTimeout(this.timer);
      this.stopLink?.();
      this.stopLink = null;
      this.status('closed');
    }

    url(path: string, since: number | null): string {
      let url = `${this.base}${path}?channel=${encodeURIComponent(this.channel)}`;
      if (since !== null) url += `&since=${since}`;
      return url;
    }

    private status(state: Stats['state']): void {
      this.stats.state = state;
      this.changed();
    }

    changed(): void {
      try {
        this.options.onStatus?.(this.stats);
      } catch (err) {
        report(err);
      }
    }

    private connect(): void {
      if (this.closed) return;
      const generation = ++this.generation;
      const current = () => generation === this.generation && !this.closed;
      this.status('connecting');
      if (this.stats.lastId === null) {
        // Without a cursor a reconnect could not ask for what it missed: learn the channel's last id first.
        this.stats.requests++;
        fetch(this.url('/push/poll', null), { cache: 'no-store' })
          .then((res) => (res.ok ? res.json() : Promise.reject(new Error('HTTP ' + res.status))))
          .then((answer: PollAnswer) => {
            if (!current()) return;
            this.stats.lastId ??= answer.last;
            this.connect();
          }, () => current() && this.retry(false));
        return;
      }
      this.openedAt = 0;
      this.delivered = false;
      const link: Link = {
        since: () => this.stats.lastId ?? 0,
        opened: () => {
          if (!current() || this.openedAt) return;
          this.openedAt = Date.now();
          this.failures = 0;
          this.status('open');
        },
        request: () => {
          if (!current()) return;
          this.stats.requests++;
          this.changed();
        },
        bytes: (n) => {
          if (!current()) return;
          this.stats.bytes += n;
        },
        message: (m) => current() && this.receive(m),
        answer: (a) => {
          if (!current()) return;
          if (a.gap) this.receive({ id: a.last, event: GAP, data: null });
          for (const m of a.messages) if (current()) this.receive(m);
          this.changed();
        },
        ended: () => current() && this.retry(this.openedAt > 0),
      };
      this.stopLink = CONNECTORS[this.order[this.index]!](this, link);
    }

    /** The connection ended or failed: reconnect after a backoff, or fall back if the technique itself fails. */
    private retry(wasOpen: boolean): void {
      const generation = ++this.generation;
      this.stopLink?.();
      this.stopLink = null;
      this.status('retrying');
      // A connection that stayed up a while, or delivered something, was healthy: start the backoff afresh.
      if (wasOpen && (this.delivered || Date.now() - this.openedAt > 5000)) this.attempt = 0;
      const delay = this.backoff();
      if (wasOpen || this.index >= this.order.length - 1) {
        this.timer = setTimeout(() => this.connect(), delay);
        return;
      }
      // It never opened. Only if the server answers plain HTTP is the technique to blame
      // (a proxy refusing upgrades, say); if the server is down, keep the technique and wait.
      this.stats.requests++;
      fetch(this.url('/push/poll', null), { cache: 'no-store' }).then((res) => res.ok, () => false).then((reachable) => {
        if (generation !== this.generation || this.closed) return;
        if (reachable && ++this.failures >= 2) {
          this.index++;
          this.failures = 0;
          this.attempt = 0;
          this.stats.transport = this.order[this.index]!;
          this.stats.fallbacks++;
          this.connect();
          return;
        }
        this.timer = setTimeout(() => this.connect(), delay);
      });
    }

    /** Exponential backoff with jitter: half fixed, half random, so a crowd of clients spreads out. */
    private backoff(): number {
      const min = this.options.retryMin ?? 500;
      const max = this.options.retryMax ?? 15000;
      const ceiling = Math.min(max, min * 2 ** Math.min(this.attempt++, 16));
      return ceiling / 2 + Math.random() * (ceiling / 2);
    }

    private receive(m: Message): void {
      if (typeof m !== 'object' || m === null || typeof m.id !== 'number') return;
      if (this.held) {
        this.held.push(m);
        return;
      }
      if (m.event === GAP) return this.gap(m.id);
      const lastId = this.stats.lastId;
      // Already delivered (a resumed stream, or covered by a reloaded state): never twice.
      if (lastId !== null && m.id <= lastId) return;
      this.stats.lastId = m.id;
      this.stats.messages++;
      this.delivered = true;
      try {
        this.onMessage(m);
      } catch (err) {
        report(err);
      }
      this.changed();
    }

    /** Some messages are gone: reload the state, holding what arrives meanwhile. */
    private gap(last: number): void {
      const before = this.stats.lastId;
      // The gap's id may be lower than ours (the server lost its ids): take it as the new cursor.
      this.stats.lastId = last;
      const onGap = this.options.onGap;
      if (!onGap) {
        try {
          this.onMessage({ id: last, event: GAP, data: null });
        } catch (err) {
          report(err);
        }
        return;
      }
      const held: Message[] = (this.held = []);
      Promise.resolve()
        .then(() => onGap(last))
        .then(
          (since) => {
            if (typeof since === 'number') this.stats.lastId = since;
          },
          (err) => {
            // The reload failed: go back to the old cursor and reconnect, so the gap comes again and the reload is retried.
            report(err);
            this.stats.lastId = before;
            held.length = 0;
            if (!this.closed) this.retry(true);
          },
        )
        .then(() => {
          if (this.held !== held) return;
          this.held = null;
          for (const m of held) this.receive(m);
          this.changed();
        });
    }
  }

  function report(err: unknown): void {
    setTimeout(() => {
      throw err;
    });
  }

  /** UTF-8 length of a string, without encoding it. */
  function utf8Length(text: string): number {
    let n = text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
    }
    return n;
  }

  const CONNECTORS: Record<Transport, Connector> = {
    websocket(sub, link) {
      const url = sub.url('/push/ws', link.since()).replace(/^http/, 'ws');
      link.request();
      const ws = new WebSocket(url);
      let stopped = false;
      ws.onopen = () => {
        if (stopped) return ws.close(1000);
        sockets.set(ws, sub.base);
        link.opened();
      };
      ws.onmessage = (ev) => {
        if (typeof ev.data !== 'string') return;
        link.bytes(utf8Length(ev.data));
        let m: Message;
        try {
          m = JSON.parse(ev.data);
        } catch {
          return;
        }
        link.message(m);
      };
      ws.onclose = () => {
        sockets.delete(ws);
        if (!stopped) link.ended();
      };
      return () => {
        stopped = true;
        sockets.delete(ws);
        // Closing a socket still connecting makes the browser log an error; onopen closes it instead.
        if (ws.readyState === 1) ws.close(1000);
      };
    },

    sse(sub, link) {
      const events = sub.options.events;
      return events ? eventSource(sub, link, events) : fetchEventStream(sub, link);
    },

    iframe(sub, link) {
      const key = 's' + ++nextKey;
      const stall = stallTimeout(sub);
      let frame: HTMLIFrameElement | null = null;
      let watch: ReturnType<typeof setInterval> | undefined;
      let observer: MutationObserver | null = null;
      let alive = Date.now();
      let started = false;
      const callback = 'pushwire.cb.' + key;
      cb[key] = (m) => {
        alive = Date.now();
        link.opened();
        link.bytes(utf8Length(`<script>parent.${callback}(${JSON.stringify(m)})</script>`));
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
        frame.src = sub.url('/push/iframe', link.since()) + '&callback=' + callback;
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
      return () => {
        delete cb[key];
        clearInterval(watch);
        observer?.disconnect();
        if (!started) removeEventListener('load', start);
        if (frame) {
          frame.onload = null;
          frame.remove();
        }
      };
    },

    longpoll(sub, link) {
      const timeout = sub.options.longPollTimeout ?? 25000;
      // The server answers by `timeout`; a request still open well after that sits on a dead connection.
      return pollLoop(sub, link, () => sub.url('/push/longpoll', link.since()) + '&timeout=' + timeout, 0, timeout + stallTimeout(sub));
    },

    poll(sub, link) {
      return pollLoop(sub, link, () => sub.url('/push/poll', link.since()), sub.options.pollInterval ?? 2000, stallTimeout(sub));
    },
  };

  /** CONTRACT.md: streams carry a heartbeat at least every 25 s; silence well beyond that means a dead connection. */
  function stallTimeout(sub: Sub): number {
    return sub.options.stallTimeout ?? 35000;
  }

  function readable(frame: HTMLIFrameElement | null): Document | null {
    try {
      return frame?.contentDocument ?? null;
    } catch {
      return null;
    }
  }

  /** Short polling (a pause between requests) and long polling (none: the server holds each one). */
  function pollLoop(_sub: Sub, link: Link, url: () => string, pause: number, limit: number): () => void {
    const abort = new AbortController();
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let held: ReturnType<typeof setTimeout> | undefined;
    let overdue: ReturnType<typeof setTimeout> | undefined;
    const once = () => {
      link.request();
      // A long poll the server is still holding after a second was accepted: that counts as open.
      if (pause === 0) held = setTimeout(link.opened, 1000);
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
            clearTimeout(held);
            clearTimeout(overdue);
            if (stopped) return;
            link.opened();
            link.answer(answer);
            timer = setTimeout(once, pause);
          },
          () => {
            clearTimeout(held);
            clearTimeout(overdue);
            if (!stopped) link.ended();
          },
        );
    };
    once();
    return () => {
      stopped = true;
      clearTimeout(held);
      clearTimeout(overdue);
      clearTimeout(timer);
      abort.abort();
    };
  }

  function toMessage(id: string, event: string, data: string): Message | null {
    try {
      return { id: Number(id), event, data: JSON.parse(data) };
    } catch {
      return null;
    }
  }

  /** SSE with the browser's EventSource, listening for the named events (and push:gap). */
  function eventSource(sub: Sub, link: Link, events: readonly string[]): () => void {
    link.request();
    const source = new EventSource(sub.url('/push/sse', link.since()));
    const onEvent = (ev: Event) => {
      const e = ev as MessageEvent<string>;
      link.bytes(utf8Length(`id: ${e.lastEventId}\nevent: ${e.type}\ndata: ${e.data}\n\n`));
      const m = toMessage(e.lastEventId, e.type, e.data);
      if (m) link.message(m);
    };
    for (const name of events.concat(GAP)) source.addEventListener(name, onEvent);
    source.onopen = () => link.opened();
    // EventSource would reconnect by itself; we reconnect ourselves, with our cursor and backoff.
    source.onerror = () => {
      source.close();
      link.ended();
    };
    return () => source.close();
  }

  /** SSE read with fetch(): every event name arrives, and the bytes are counted exactly. */
  function fetchEventStream(sub: Sub, link: Link): () => void {
    const abort = new AbortController();
    let stopped = false;
    // Silent longer than the heartbeat period allows: the connection is dead (a cut one may never error).
    const stall = stallTimeout(sub);
    let silent = setTimeout(() => abort.abort(), stall);
    link.request();
    fetch(sub.url('/push/sse', link.since()), { cache: 'no-store', signal: abort.signal, headers: { Accept: 'text/event-stream' } })
      .then(async (res) => {
        if (!res.ok || !res.body || (res.headers.get('Content-Type') ?? '').indexOf('text/event-stream') !== 0) throw new Error('HTTP ' + res.status);
        link.opened();
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffered = '';
        let id = '';
        let event = '';
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
              const m = data.length ? toMessage(id, event || 'message', data.join('\n')) : null;
              if (m) link.message(m);
              event = '';
              data = [];
              continue;
            }
            const colon = line.indexOf(':');
            if (colon === 0) continue; // a comment: the heartbeat
            const field = colon === -1 ? line : line.slice(0, colon);
            const value = colon === -1 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
            if (field === 'id') id = value;
            else if (field === 'event') event = value;
            else if (field === 'data') data.push(value);
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
}
