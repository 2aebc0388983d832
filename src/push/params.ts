import type http from 'node:http';
import { HttpError } from '../http/respond.js';
import type { ChannelLog } from './channel-log.js';
import { CHANNEL_NAME } from './message.js';

/** CONTRACT.md iframe streaming: the callback the script chunks call on `parent`. */
export const CALLBACK_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$/;

const NON_NEGATIVE_INTEGER = /^\d{1,16}$/;

/** `channel=C`, required and well-formed; else 400. */
export function channelParam(url: URL): string {
  const channel = url.searchParams.get('channel');
  if (channel === null) throw new HttpError(400, 'missing parameter: channel');
  if (!CHANNEL_NAME.test(channel)) throw new HttpError(400, 'bad channel name: must match ^[A-Za-z0-9_.:-]{1,64}$');
  return channel;
}

/** A non-negative safe integer from text, or null. */
export function parseCursor(text: string): number | null {
  if (!NON_NEGATIVE_INTEGER.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * The client's cursor: `since=N`, or for SSE a `Last-Event-ID` header, which
 * wins (it is what EventSource sends on its own reconnects). Absent: the
 * channel's current last id, i.e. only new messages.
 */
export function sinceParam(url: URL, log: ChannelLog, channel: string, req?: http.IncomingMessage): number {
  const header = req?.headers['last-event-id'];
  if (header !== undefined) {
    const since = parseCursor(String(header).trim());
    if (since === null) throw new HttpError(400, 'bad Last-Event-ID: must be a non-negative integer');
    return since;
  }
  const raw = url.searchParams.get('since');
  if (raw === null) return log.last(channel);
  const since = parseCursor(raw);
  if (since === null) throw new HttpError(400, 'bad parameter since: must be a non-negative integer');
  return since;
}

/** `timeout=MS` of long polling: 0..60000, default 25000. */
export function timeoutParam(url: URL, fallback: number): number {
  const raw = url.searchParams.get('timeout');
  if (raw === null) return fallback;
  const ms = parseCursor(raw);
  if (ms === null || ms > 60000) throw new HttpError(400, 'bad parameter timeout: must be an integer from 0 to 60000');
  return ms;
}

/** `callback=F` of iframe streaming: a dotted JavaScript name. */
export function callbackParam(url: URL): string {
  const callback = url.searchParams.get('callback');
  if (callback === null) throw new HttpError(400, 'missing parameter: callback');
  if (!CALLBACK_NAME.test(callback)) throw new HttpError(400, 'bad callback: must be a dotted JavaScript name');
  return callback;
}
