// Test clients for subscriptions of several channels on one connection
// (docs/PROTOCOL.md §3.11), on every technique, over real sockets.
import http from 'node:http';
import WsClient from 'ws';
import { parseIframeCalls, parseSseEvents, pollLoop, readStream, watchPushWs } from './wire.js';

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
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const gaps: string[] = [];
  const answers: any[] = [];
  const loop = pollLoop(kind, () => `${base}/push/${kind}?channels=${spec(cursors)}${kind === 'longpoll' ? '&timeout=10000' : ''}`, false, 5, {
    answer(answer) {
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
    },
  });
  return { inbox, ready, gaps, answers, close: () => loop.close() };
}

export interface StreamSub extends MuxSub {
  readonly response: Promise<http.IncomingMessage>;
  raw(): string;
}

/** An SSE or iframe stream of `channels=`, parsed as it arrives. */
export function openMuxStream(base: string, kind: 'sse' | 'iframe', query: string, headers: Record<string, string> = {}): StreamSub {
  const inbox = new MuxInbox();
  let parsedTo = 0;
  const url = `${base}/push/${kind}?${query}${kind === 'iframe' ? '&callback=pw.deliver' : ''}`;
  const { req, response, raw } = readStream(url, { headers, agent: false }, (text) => {
    parsedTo = kind === 'sse'
      ? parseSseEvents(text, parsedTo, (fields) => {
        if (fields.data === undefined) return;
        const message = JSON.parse(fields.data) as Tagged;
        if (fields.event !== message.event) throw new Error(`event: ${fields.event} but the object says ${message.event}`);
        inbox.push(message, fields.id);
      })
      : parseIframeCalls(text, parsedTo, 'pw.deliver', (m) => inbox.push(m as Tagged));
  });
  return { inbox, response, ready: response.then(() => undefined), raw, close: () => req.destroy() };
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
  const { ready, closed } = watchPushWs(ws, (m) => inbox.push(m as Tagged));
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
