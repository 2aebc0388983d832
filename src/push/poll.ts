import type http from 'node:http';
import type { Router } from '../http/router.js';
import { PushRequest, channelNames, whenAdmitted } from './authorize.js';
import type { AsyncChannelLog, ReadResult } from './log.js';
import type { ChannelRequest } from './channel-set.js';
import type { PushMessage } from './message.js';
import { subscriptionParams, type SubscriptionParams } from './params.js';
import type { PushContext } from './settings.js';

const NONE: readonly PushMessage[] = [];

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
export function taggedPollBody(channels: readonly ChannelRequest[], reads: readonly ReadResult[]): string {
  let messages: PushMessage[] = [];
  let sources = 0;
  let last = '';
  let gap = '';
  for (let i = 0; i < channels.length; i++) {
    const read = reads[i]!;
    if (read.messages.length > 0) {
      messages = sources === 0 ? (read.messages as PushMessage[]) : messages.concat(read.messages);
      sources++;
    }
    const key = (last === '' ? '"' : ',"') + channels[i]!.channel + '":';
    last += key + read.last;
    gap += key + read.gap;
  }
  if (sources > 1) messages.sort((a, b) => a.order - b.order);
  let list = '';
  for (let i = 0; i < messages.length; i++) list += (i === 0 ? '' : ',') + messages[i]!.taggedJson;
  return `{"messages":[${list}],"last":{${last}},"gap":{${gap}}}`;
}

/** The answer to a poll of these params, from one read per channel. */
export function pollAnswerBody(params: SubscriptionParams, reads: readonly ReadResult[]): string {
  return params.tagged ? taggedPollBody(params.channels, reads) : pollBody(reads[0]!);
}

/** A channel's latest id as a read with nothing after it. */
export function latestOnly(last: number): ReadResult {
  return { messages: NONE, last, gap: false };
}

/** Every channel read past its cursor (no cursor: only its latest id). Rejects with LogUnavailableError. */
export function readChannels(log: AsyncChannelLog, channels: readonly ChannelRequest[]): Promise<ReadResult[]> {
  return Promise.all(channels.map(({ channel, since }) => (since === null ? log.last(channel).then(latestOnly) : log.read(channel, since))));
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
 * answered at once with what the log holds after each cursor (503 when a
 * shared log cannot be reached). Each request that finds nothing is the
 * waste the seed warns of; see docs/PROTOCOL.md §3 for the figures.
 */
export function mountPoll(router: Router, ctx: PushContext): void {
  const counts = ctx.metrics.poll;
  router.get('/push/poll', (req, res, url) => {
    const params = subscriptionParams(url);
    ctx.limits.subscriptionsPerConnection(params.channels.length);
    const admission = ctx.gate.admit(new PushRequest(req, url, 'poll'), channelNames(params.channels));
    return whenAdmitted(admission, () => res.destroyed, async () => {
      const reads = await readChannels(ctx.log, params.channels);
      counts.subscribed.value += params.channels.length;
      for (const read of reads) counts.delivered.value += read.messages.length;
      sendPollAnswer(res, pollAnswerBody(params, reads));
    });
  });
}
