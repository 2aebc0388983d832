// Test clients for subscriptions of several channels on one connection
// (docs/PROTOCOL.md §3.11), on every technique, over real sockets.
import http from 'node:http';
import WsClient from 'ws';

/** A message as a multiplexed subscription delivers it. */
export interface Tagged { channel: string; id: number; event: string; data: unknown }

/** Channel → the last id the client has (null: only new messages). */
export type Cursors = Record<string, number | null>;

export type Technique = 'poll' | 'longpoll' | 'sse' | 'iframe' | 'ws';
export const TECHNIQUES: Technique[] = ['poll', 'longpoll', 'sse', 'iframe', 'ws'];

/** `a@1,b,c@0` */
export function spec(cursors: Cursors): string {
  return Object.entries(cursors).map(([c, n]) => (n === null ? c : `${c}@${n}`)).join(',');
}

/** Messages as they arrive, with a way to wait for a condition on them. */
export class MuxInbox {
  readonly messages: Tagged[] = [];
  /** SSE only: the `id:` line of each event, in order. */
  readonly eventIds: string[] = [];
  private waiters: Array<() => void> = [];

  push(message: Tagged, eventId?: string): void {
    this.messages.push(message);
    if (eventId !== undefined) this.eventIds.push(eventId);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Waits until `check` holds of the messages so far. */
  async until(check: (messages: Tagged[]) => boolean, what: string, ms = 5000): Promise<Tagged[]> {
    const end = Date.now() + ms;
    while (!check(this.messages)) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; have ${JSON.stringify(this.messages.map((m) => `${m.channel}:${m.id}:${m.event}`))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return this.messages;
  }

  /** Waits for a message with this event on every one of these channels (the sentinels). */
  sentinels(channels: readonly string[], event = 'end', ms = 5000): Promise<Tagged[]> {
    return this.until((ms) => channels.every((c) => ms.some((m) => m.channel === c && m.event === event)), `${event} on ${channels.join(', ')}`, ms);
  }

  of(channel: string): Tagged[] { return this.messages.filter((m) => m.channel === channel); }
}

export interface MuxSub {
  readonly inbox: MuxInbox;
  /** The subscription is in place on the server (polling: the first answer is in). */
  readonly ready: Promise<void>;
  close(): void;
}

/** Polls in a loop with `channels=`, each request carrying every cursor the client has. */
export function openMuxPolling(base: string, kind: 'poll' | 'longpoll', start: Cursors): MuxSub & { gaps: string[]; answers: any[] } {
  const inbox = new MuxInbox();
  const cursors: Cursors = { ...start };
  let stopped = false;
  let current: http.ClientRequest | null = null;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const gaps: string[] = [];
  const answers: any[] = [];
  const once = (): Promise<any> => new Promise((resolve, reject) => {
    current = http.get(`${base}/push/${kind}?channels=${spec(cursors)}${kind === 'longpoll' ? '&timeout=10000' : ''}`, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${kind}: HTTP ${res.statusCode} ${Buffer.concat(chunks)}`));
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      });
      res.on('error', reject);
    });
    current.on('error', reject);
  });
  void (async () => {
    while (!stopped) {
      let answer;
      try {
        answer = await once();
      } catch (err) {
        if (!stopped) console.error(err);
        return;
      }
      answers.push(answer);
      markReady();
      for (const channel of Object.keys(cursors)) {
        if (answer.gap[channel]) {
          gaps.push(channel);
          cursors[channel] = answer.last[channel];
        } else if (cursors[channel] === null) {
          cursors[channel] = answer.last[channel];
        }
      }
      for (const m of answer.messages as Tagged[]) {
        inbox.push(m);
        cursors[m.channel] = m.id;
      }
      if (kind === 'poll') await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return { inbox, ready, gaps, answers, close() { stopped = true; current?.destroy(); } };
}

export interface StreamSub extends MuxSub {
  readonly response: Promise<http.IncomingMessage>;
  raw(): string;
}

/** An SSE or iframe stream of `channels=`, parsed as it arrives. */
export function openMuxStream(base: string, kind: 'sse' | 'iframe', query: string, headers: Record<string, string> = {}): StreamSub {
  const inbox = new MuxInbox();
  let text = '';
  let parsedTo = 0;
  const url = `${base}/push/${kind}?${query}${kind === 'iframe' ? '&callback=pw.deliver' : ''}`;
  let resolveResponse!: (res: http.IncomingMessage) => void;
  const response = new Promise<http.IncomingMessage>((resolve) => (resolveResponse = resolve));
  const req = http.get(url, { headers, agent: false }, (res) => {
    res.setEncoding('utf8');
    resolveResponse(res);
    res.on('data', (chunk: string) => {
      text += chunk;
      parsedTo = kind === 'sse' ? parseSse(text, parsedTo, inbox) : parseIframe(text, parsedTo, inbox);
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  return { inbox, response, ready: response.then(() => undefined), raw: () => text, close: () => req.destroy() };
}

function parseSse(text: string, from: number, inbox: MuxInbox): number {
  for (;;) {
    const end = text.indexOf('\n\n', from);
    if (end === -1) return from;
    const block = text.slice(from, end);
    from = end + 2;
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      fields[name] = fields[name] === undefined ? value : fields[name] + '\n' + value;
    }
    if (fields.data === undefined) continue;
    const message = JSON.parse(fields.data) as Tagged;
    if (fields.event !== message.event) throw new Error(`event: ${fields.event} but the object says ${message.event}`);
    inbox.push(message, fields.id);
  }
}

function parseIframe(text: string, from: number, inbox: MuxInbox): number {
  const open = '<script>parent.pw.deliver(';
  const close = ')</script>';
  for (;;) {
    const start = text.indexOf(open, from);
    if (start === -1) return from;
    const end = text.indexOf(close, start);
    if (end === -1) return from;
    inbox.push(JSON.parse(text.slice(start + open.length, end)) as Tagged);
    from = end + close.length;
  }
}

export interface WsSub extends MuxSub {
  readonly ws: WsClient;
  readonly closed: Promise<{ code: number; reason: string }>;
  send(event: string, data: unknown): void;
}

/** A /push/ws connection (the `ws` package as the client) with this query (may be empty). */
export function openMuxWs(base: string, query: string): WsSub {
  const inbox = new MuxInbox();
  const ws = new WsClient(`${base.replace('http', 'ws')}/push/ws${query ? '?' + query : ''}`);
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error('closed before open')));
  });
  ready.catch(() => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('message', (data: Buffer) => inbox.push(JSON.parse(data.toString('utf8')) as Tagged));
  ws.on('error', () => {});
  return {
    inbox, ws, ready, closed,
    send: (event, data) => ws.send(JSON.stringify({ event, data })),
    close: () => ws.close(1000),
  };
}

/** A multiplexed subscription of these channels on any technique. */
export function openMux(technique: Technique, base: string, cursors: Cursors): MuxSub {
  switch (technique) {
    case 'poll':
    case 'longpoll': return openMuxPolling(base, technique, cursors);
    case 'sse':
    case 'iframe': return openMuxStream(base, technique, `channels=${spec(cursors)}`);
    case 'ws': return openMuxWs(base, `channels=${spec(cursors)}`);
  }
}

/** Each channel's ids strictly increasing: nothing twice, nothing out of order. */
export function idsByChannel(messages: readonly Tagged[], event?: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const m of messages) if (event === undefined || m.event === event) (out[m.channel] ??= []).push(m.id);
  return out;
}
