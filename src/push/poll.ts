import type http from 'node:http';
import type { Router } from '../http/router.js';
import type { ReadResult } from './channel-log.js';
import { channelParam, sinceParam } from './params.js';
import type { PushContext } from './settings.js';

/** `{"messages": [...], "last": L, "gap": g}` from the messages' own JSON, with no re-serialising. */
export function pollBody(result: ReadResult): string {
  let list = '';
  for (let i = 0; i < result.messages.length; i++) list += (i === 0 ? '' : ',') + result.messages[i]!.json;
  return `{"messages":[${list}],"last":${result.last},"gap":${result.gap}}`;
}

export function sendPollAnswer(res: http.ServerResponse, body: string | Buffer, close = false): void {
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  };
  if (close) headers.Connection = 'close';
  res.writeHead(200, headers);
  res.end(body);
}

/**
 * Short polling, `GET /push/poll?channel=C&since=N`: answered at once with
 * what the log holds after N. Each request that finds nothing is the waste
 * the seed warns of; see docs/PROTOCOL.md §3 for the figures.
 */
export function mountPoll(router: Router, ctx: PushContext): void {
  router.get('/push/poll', (_req, res, url) => {
    const channel = channelParam(url);
    const since = sinceParam(url, ctx.log, channel);
    sendPollAnswer(res, pollBody(ctx.log.read(channel, since)));
  });
}
