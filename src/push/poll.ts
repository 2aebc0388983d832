import type http from 'node:http';
import type { Router } from '../http/router.js';
import type { CounterChild } from '../metrics/registry.js';
import { PushRequest, channelNames, whenAdmitted } from './authorize.js';
import type { ChannelLog, ReadResult } from './channel-log.js';
import type { ChannelRequest } from './channel-set.js';
import type { PushMessage } from './message.js';
import { subscriptionParams, type SubscriptionParams } from './params.js';
import type { PushContext } from './settings.js';

/** `{"messages": [...], "last": L, "gap": g}` from the messages' own JSON, with no re-serialising. */
export function pollBody(result: ReadResult): string {
  let list = '';
  for (let i = 0; i < result.messages.length; i++) list += (i === 0 ? '' : ',') + result.messages[i]!.json;
  return `{"messages":[${list}],"last":${result.last},"gap":${result.gap}}`;
}

/**
 * The answer of a multiplexed poll (docs/PROTOCOL.md §3.11): every channel's
 * messages past its cursor, tagged and merged in publish order, and `last`
 * and `gap` as objects with every channel of the request.
 */
export function taggedPollBody(log: ChannelLog, channels: readonly ChannelRequest[], delivered?: CounterChild): string {
  let messages: PushMessage[] = [];
  let sources = 0;
  let last = '';
  let gap = '';
  for (const { channel, since } of channels) {
    const read = log.read(channel, since);
    if (read.messages.length > 0) {
      messages = sources === 0 ? (read.messages as PushMessage[]) : messages.concat(read.messages);
      sources++;
    }
    const key = (last === '' ? '"' : ',"') + channel + '":';
    last += key + read.last;
    gap += key + read.gap;
  }
  if (sources > 1) messages.sort((a, b) => a.order - b.order);
  if (delivered) delivered.value += messages.length;
  let list = '';
  for (let i = 0; i < messages.length; i++) list += (i === 0 ? '' : ',') + messages[i]!.taggedJson;
  return `{"messages":[${list}],"last":{${last}},"gap":{${gap}}}`;
}

/** The answer to a poll of these params as things stand. */
export function currentPollBody(log: ChannelLog, params: SubscriptionParams, delivered?: CounterChild): string {
  if (params.tagged) return taggedPollBody(log, params.channels, delivered);
  const { channel, since } = params.channels[0]!;
  const read = log.read(channel, since);
  if (delivered) delivered.value += read.messages.length;
  return pollBody(read);
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
 * Short polling, `GET /push/poll?channel=C&since=N` (or `channels=SPEC`):
 * answered at once with what the log holds after each cursor. Each request
 * that finds nothing is the waste the seed warns of; see docs/PROTOCOL.md §3
 * for the figures.
 */
export function mountPoll(router: Router, ctx: PushContext): void {
  const counts = ctx.metrics.poll;
  router.get('/push/poll', (req, res, url) => {
    const params = subscriptionParams(url, ctx.log);
    ctx.limits.subscriptionsPerConnection(params.channels.length);
    const admission = ctx.gate.admit(new PushRequest(req, url, 'poll'), channelNames(params.channels));
    return whenAdmitted(admission, () => res.destroyed, () => {
      counts.subscribed.value += params.channels.length;
      sendPollAnswer(res, currentPollBody(ctx.log, params, counts.delivered));
    });
  });
}
