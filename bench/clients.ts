/**
 * Light load-generator clients for the memory and fan-out benches: thousands
 * of raw TCP sockets in one process, each doing the RFC 6455 handshake by hand
 * and reading server frames with our sans-I/O FrameDecoder (a full client
 * object per connection would cost the client process more than the server).
 * Also long-poll, SSE and iframe clients on keep-alive HTTP, of one channel
 * or several (`channels=`).
 */
import net from 'node:net';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { encodeTextFrame, nextMaskKey } from '../src/protocol/frame-encoder.js';

export interface Delivery {
  /** Called with each text message's payload. */
  (text: string): void;
}

export class RawWebSocket {
  readonly socket: net.Socket;
  private decoder: FrameDecoder | null = null;

  constructor(socket: net.Socket) {
    this.socket = socket;
  }

  /** Sends a text message (masked, as a client must). */
  sendText(text: string): void {
    this.socket.write(encodeTextFrame(text, true, false, nextMaskKey()));
  }

  /** Sends text messages in one write, so that they arrive together. */
  sendTexts(texts: string[]): void {
    this.socket.write(Buffer.concat(texts.map((text) => encodeTextFrame(text, true, false, nextMaskKey()))));
  }

  /** Opens once the 101 arrives; rejects on anything else. */
  static open(port: number, path: string, onText: Delivery | null): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      const ws = new RawWebSocket(socket);
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        if (ws.decoder) return ws.decoder.push(chunk);
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        if (!head.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 101')) {
          socket.destroy();
          return reject(new Error(`handshake refused: ${head.subarray(0, end).toString('latin1').split('\r\n')[0]}`));
        }
        ws.decoder = new FrameDecoder({
          onMessage: (data) => onText?.(data.toString()),
          onPing: () => {},
          onPong: () => {},
          onClose: () => socket.destroy(),
          onError: () => socket.destroy(),
        }, { expectMasked: false, maxMessageSize: 64 * 1024 * 1024 });
        resolve(ws);
        const rest = head.subarray(end + 4);
        if (rest.length > 0) ws.decoder.push(rest);
      };
      socket.on('data', onData);
      socket.on('error', reject);
      socket.on('close', () => reject(new Error('closed during the handshake')));
      socket.setNoDelay(true);
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
  }
}

/**
 * A Socket.IO client as light as the raw WebSockets above: Engine.IO over a
 * WebSocket from the start, CONNECT to "/", pongs for the server's pings, and
 * each event's text ('42[...]') handed on. Resolves once connected.
 */
export function openSocketIo(port: number, onEvent: Delivery): Promise<RawWebSocket> {
  return new Promise((resolve, reject) => {
    let connected = false;
    let ws: RawWebSocket | null = null;
    // The open packet may come in the same read as the 101, before `ws` is set: answer a turn later.
    const send = (text: string) => queueMicrotask(() => ws?.sendText(text));
    const onText = (text: string) => {
      const type = text.charCodeAt(0);
      if (type === 0x34 /* 4: message */) {
        if (text.charCodeAt(1) === 0x32 /* 2: EVENT */) return onEvent(text);
        if (!connected && text.startsWith('40')) {
          connected = true;
          resolve(ws!);
        }
      } else if (type === 0x32 /* 2: ping */) {
        send('3');
      } else if (type === 0x30 /* 0: open */) {
        send('40');
      }
    };
    RawWebSocket.open(port, '/socket.io/?EIO=4&transport=websocket', onText).then((opened) => {
      ws = opened;
    }, reject);
  });
}

/** Runs `make` n times with at most `parallel` pending at once (the listen backlog is finite). */
export async function openMany<T>(n: number, parallel: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const lanes = Array.from({ length: Math.min(parallel, n) }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await make(i);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** What a long-poll client asks with and how each message moves it on. */
interface PollCursor {
  /** The query of the next poll. */
  query(): string;
  advance(message: { channel?: string; id: number }): void;
}

/** Polls again as soon as an answer came, with the cursor as the messages moved it. */
class LongPoller {
  private stopped = false;
  private req: http.ClientRequest | null = null;
  /** Resolves when the first poll is held by the server (its request was sent). */
  readonly ready: Promise<void>;

  constructor(private readonly port: number, private readonly cursor: PollCursor, private readonly agent: http.Agent,
    private readonly onMessage: Delivery) {
    this.ready = this.poll();
  }

  private poll(): Promise<void> {
    return new Promise((resolveSent, rejectSent) => {
      const req = http.get({ host: '127.0.0.1', port: this.port, agent: this.agent,
        path: `/push/longpoll?${this.cursor.query()}&timeout=60000` }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => { body += s; });
        res.on('end', () => {
          if (res.statusCode !== 200) return;
          const answer = JSON.parse(body) as { messages: { channel?: string; id: number }[] };
          for (const m of answer.messages) {
            this.cursor.advance(m);
            this.onMessage(JSON.stringify(m));
          }
          if (!this.stopped) void this.poll().catch(() => {});
        });
      });
      this.req = req;
      req.on('error', (err) => rejectSent(err));
      req.on('socket', (socket) => {
        if (!socket.connecting) resolveSent();
        else socket.once('connect', () => resolveSent());
      });
    });
  }

  stop(): void {
    this.stopped = true;
    this.req?.destroy();
  }
}

/** One long-poll client of `bench`, from the last id it saw. */
export class LongPollClient extends LongPoller {
  constructor(port: number, since: number, agent: http.Agent, onMessage: Delivery) {
    super(port, {
      query: () => `channel=bench&since=${since}`,
      advance: (m) => { since = Math.max(since, m.id); },
    }, agent, onMessage);
  }
}

/** A long-poll client of several channels (`channels=`, from id 0): asks again at once with every cursor. */
export class MuxLongPollClient extends LongPoller {
  constructor(port: number, channels: string[], agent: http.Agent, onMessage: Delivery) {
    const cursors = new Map(channels.map((c) => [c, 0]));
    super(port, {
      query: () => `channels=${[...cursors].map(([c, n]) => `${c}@${n}`).join(',')}`,
      advance: (m) => { cursors.set(m.channel!, Math.max(cursors.get(m.channel!) ?? 0, m.id)); },
    }, agent, onMessage);
  }
}

/**
 * One streaming client (SSE or hidden iframe): reads the chunked answer and
 * hands each complete unit that `next` cuts off the front of the buffer to
 * onMessage (`next` returns null when no whole unit is there yet).
 */
function openStream(port: number, agent: http.Agent, path: string, headers: Record<string, string>,
  next: (buf: string) => { message: string | null; rest: string } | null, onMessage: Delivery): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, agent, path, headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${path} answered ${res.statusCode}`));
      res.setEncoding('utf8');
      let buf = '';
      let resolved = false;
      res.on('data', (s: string) => {
        if (!resolved) { resolved = true; resolve(req); }
        buf += s;
        for (let cut = next(buf); cut !== null; cut = next(buf)) {
          buf = cut.rest;
          if (cut.message !== null) onMessage(cut.message);
        }
      });
    });
    req.on('error', reject);
  });
}

/** Cuts the first SSE event off `buf`: its `data:` line where `keep` takes the event, else null. */
function nextSse(buf: string, keep: (event: string, data: string) => boolean): { message: string | null; rest: string } | null {
  const cut = buf.indexOf('\n\n');
  if (cut === -1) return null;
  const event = buf.slice(0, cut);
  const dataLine = event.split('\n').find((l) => l.startsWith('data:'));
  return { message: dataLine && keep(event, dataLine) ? dataLine.slice(5).trim() : null, rest: buf.slice(cut + 2) };
}

/** One SSE client: each `tick` event's `data:` line. */
export function openSse(port: number, agent: http.Agent, onMessage: Delivery): Promise<http.ClientRequest> {
  return openStream(port, agent, '/push/sse?channel=bench', { Accept: 'text/event-stream' },
    (buf) => nextSse(buf, (event) => event.includes('event: tick')), onMessage);
}

/** An SSE client of several channels: each event's `data:` is the message object with its channel. */
export function openMuxSse(port: number, agent: http.Agent, channels: string[], onMessage: Delivery): Promise<http.ClientRequest> {
  return openStream(port, agent, `/push/sse?channels=${channels.join(',')}`, { Accept: 'text/event-stream' },
    (buf) => nextSse(buf, (_event, data) => data.includes('"tick"')), onMessage);
}

/** One hidden-iframe client: the argument of each `_()&&parent.cb(...)` script holding a `tick`. */
export function openIframe(port: number, agent: http.Agent, onMessage: Delivery): Promise<http.ClientRequest> {
  return openStream(port, agent, '/push/iframe?channel=bench&callback=cb', {}, (buf) => {
    const end = buf.indexOf(')</script>');
    if (end === -1) return null;
    const start = buf.lastIndexOf('parent.cb(', end);
    const message = start === -1 ? null : buf.slice(start + 'parent.cb('.length, end);
    return { message: message !== null && message.includes('"tick"') ? message : null, rest: buf.slice(end + ')</script>'.length) };
  }, onMessage);
}
