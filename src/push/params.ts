import type http from 'node:http';
import { HttpError } from '../http/respond.js';
import { MAX_CHANNELS, type ChannelRequest } from './channel-set.js';
import { CHANNEL_NAME } from './message.js';

/** Iframe streaming (docs/PROTOCOL.md §3.5): the callback the script chunks call on `parent`. */
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
 * wins (it is what EventSource sends on its own reconnects). Absent: null,
 * only new messages (the channel's last id, read once subscribed).
 */
export function sinceParam(url: URL, req?: http.IncomingMessage): number | null {
  const header = req?.headers['last-event-id'];
  if (header !== undefined) {
    const since = parseCursor(String(header).trim());
    if (since === null) throw new HttpError(400, 'bad Last-Event-ID: must be a non-negative integer');
    return since;
  }
  const raw = url.searchParams.get('since');
  if (raw === null) return null;
  const since = parseCursor(raw);
  if (since === null) throw new HttpError(400, 'bad parameter since: must be a non-negative integer');
  return since;
}

/** What a subscribe request asks for: its channels with their cursors, and the message form. */
export interface SubscriptionParams {
  /** `channels=SPEC` (docs/PROTOCOL.md §3.11): messages name their channel, answers carry per-channel objects. */
  readonly tagged: boolean;
  readonly channels: ChannelRequest[];
}

/**
 * The channels of a subscribe request: `channel=C&since=N` as before, or
 * `channels=a@12,b,c@0` (docs/PROTOCOL.md §3.11). For SSE (`req` given) a
 * `Last-Event-ID` header wins: a plain id for `channel=C`, a compound cursor
 * `NAME@N,...` for `channels=`, which moves the cursor of each channel it
 * names that the request also lists. `allowNone` (WebSocket): neither
 * parameter opens a connection with no channel.
 */
export function subscriptionParams(url: URL, req?: http.IncomingMessage, allowNone = false): SubscriptionParams {
  const params = url.searchParams;
  const specs = params.getAll('channels');
  if (specs.length === 0) {
    if (allowNone && !params.has('channel') && !params.has('since')) return { tagged: false, channels: [] };
    if (!params.has('channel') && !allowNone) throw new HttpError(400, 'missing parameter: channel (or channels)');
    const channel = channelParam(url);
    return { tagged: false, channels: [{ channel, since: sinceParam(url, req) }] };
  }
  if (specs.length > 1) throw new HttpError(400, 'parameter channels given more than once');
  if (params.has('channel')) throw new HttpError(400, 'channels and channel cannot be combined');
  if (params.has('since')) throw new HttpError(400, 'channels and since cannot be combined: give each cursor as NAME@N');
  const cursors = parseChannelSpec(specs[0]!, 'channels');
  const header = req?.headers['last-event-id'];
  if (header !== undefined) {
    for (const [channel, since] of parseChannelSpec(String(header).trim(), 'Last-Event-ID', true)) {
      if (cursors.has(channel)) cursors.set(channel, since);
    }
  }
  const channels: ChannelRequest[] = [];
  for (const [channel, since] of cursors) channels.push({ channel, since });
  return { tagged: true, channels };
}

/**
 * `NAME@N,NAME,...`: 1 to 100 entries, each a channel name and optionally the
 * last id the client has (null: none given). A bad name or id, a name twice,
 * an empty list or too many entries is a 400 naming `what`. A compound
 * cursor (`idsRequired`) must give every id.
 */
export function parseChannelSpec(spec: string, what: string, idsRequired = false): Map<string, number | null> {
  const cursors = new Map<string, number | null>();
  if (spec === '') throw new HttpError(400, `bad ${what}: empty list`);
  const entries = spec.split(',');
  if (entries.length > MAX_CHANNELS) throw new HttpError(400, `bad ${what}: ${entries.length} channels, at most ${MAX_CHANNELS}`);
  for (const entry of entries) {
    const at = entry.indexOf('@');
    const channel = at === -1 ? entry : entry.slice(0, at);
    if (!CHANNEL_NAME.test(channel)) throw new HttpError(400, `bad ${what}: channel ${JSON.stringify(channel)} must match ^[A-Za-z0-9_.:-]{1,64}$`);
    let since: number | null = null;
    if (at === -1 && idsRequired) throw new HttpError(400, `bad ${what}: each entry must be NAME@N`);
    if (at !== -1) {
      since = parseCursor(entry.slice(at + 1));
      if (since === null) throw new HttpError(400, `bad ${what}: the id after ${channel}@ must be a non-negative integer`);
    }
    if (cursors.has(channel)) throw new HttpError(400, `bad ${what}: channel ${channel} listed twice`);
    cursors.set(channel, since);
  }
  return cursors;
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
