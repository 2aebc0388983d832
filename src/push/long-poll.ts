import type http from 'node:http';
import type { Router } from '../http/router.js';
import { PushRequest, channelNames, whenAdmitted } from './authorize.js';
import type { Subscriber } from './channel-log.js';
import type { PushMessage } from './message.js';
import { subscriptionParams, timeoutParam, type SubscriptionParams } from './params.js';
import { currentPollBody, sendPollAnswer, taggedPollBody } from './poll.js';
import type { PushContext } from './settings.js';

/** A request waiting for the first message past one of its cursors. */
class HeldPoll implements Subscriber {
  timer: NodeJS.Timeout | null = null;
  done = false;
  /** Cursors by channel when there are several; the one cursor is read from params otherwise. */
  private readonly cursors: Map<string, number> | null;

  constructor(
    private readonly polls: LongPolls,
    readonly res: http.ServerResponse,
    readonly params: SubscriptionParams,
  ) {
    const { channels } = params;
    this.cursors = channels.length > 1 ? new Map(channels.map((c) => [c.channel, c.since])) : null;
  }

  deliver(message: PushMessage): void {
    const since = this.cursors ? this.cursors.get(message.channel) : this.params.channels[0]!.since;
    if (since !== undefined && message.id > since) this.polls.answer(this, message);
  }

  /** Bound once per request, for setTimeout and 'close'. */
  readonly expire = (): void => this.polls.answer(this, null);
  readonly abandon = (): void => this.polls.release(this);
}

/**
 * Long polling, `GET /push/longpoll?channel=C&since=N&timeout=MS` (or
 * `channels=SPEC`): answered at once if something past a cursor is there (or
 * a gap), else held until the next publish on any of its channels, or the
 * timeout. A client that goes away is let go at once.
 */
export class LongPolls {
  private readonly held = new Set<HeldPoll>();
  private closing = false;

  constructor(private readonly ctx: PushContext) {}

  get heldCount(): number { return this.held.size; }

  mount(router: Router): void {
    router.get('/push/longpoll', (req, res, url) => this.handle(req, res, url));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void | Promise<void> {
    const { log, settings, limits, gate } = this.ctx;
    const params = subscriptionParams(url, log);
    const timeout = timeoutParam(url, settings.longPollTimeout);
    limits.subscriptionsPerConnection(params.channels.length);
    const admission = gate.admit(new PushRequest(req, url, 'longpoll'), channelNames(params.channels));
    return whenAdmitted(admission, () => res.destroyed, () => this.hold(res, params, timeout));
  }

  /** Answers at once, or holds the request until a message or the timeout. */
  private hold(res: http.ServerResponse, params: SubscriptionParams, timeout: number): void {
    const { log, limits } = this.ctx;
    const counts = this.ctx.metrics.longpoll;
    counts.subscribed.value += params.channels.length;
    if (timeout === 0 || this.closing || this.ready(params)) {
      return sendPollAnswer(res, currentPollBody(log, params, counts.delivered), this.closing);
    }
    limits.heldPolls(this.held.size);
    limits.channels(channelNames(params.channels));
    const poll = new HeldPoll(this, res, params);
    this.held.add(poll);
    for (const { channel } of params.channels) log.subscribe(channel, poll);
    counts.subscriptions.value += params.channels.length;
    poll.timer = setTimeout(poll.expire, timeout);
    res.once('close', poll.abandon);
  }

  /** Something to answer at once: a message past some cursor, or a gap on some channel. */
  private ready(params: SubscriptionParams): boolean {
    for (const { channel, since } of params.channels) {
      const read = this.ctx.log.read(channel, since);
      if (read.messages.length > 0 || read.gap) return true;
    }
    return false;
  }

  /** Answers a held poll: with the message that woke it, or (null) with `"messages": []`. */
  answer(poll: HeldPoll, message: PushMessage | null): void {
    if (poll.done) return;
    this.release(poll);
    if (poll.res.destroyed) return;
    const { log } = this.ctx;
    const { params } = poll;
    let body: string | Buffer;
    if (message === null) {
      // Timed out: nothing new, and the cursors to come back with are the channels' last ids.
      body = params.tagged
        ? taggedPollBody(log, params.channels.map(({ channel }) => ({ channel, since: log.last(channel) })))
        : currentPollBody(log, { tagged: false, channels: [{ channel: params.channels[0]!.channel, since: log.last(params.channels[0]!.channel) }] });
    } else if (!params.tagged && message.id === params.channels[0]!.since + 1) {
      body = message.singlePollBody();
      this.ctx.metrics.longpoll.delivered.value++;
    } else {
      body = currentPollBody(log, params, this.ctx.metrics.longpoll.delivered);
    }
    sendPollAnswer(poll.res, body, this.closing);
  }

  release(poll: HeldPoll): void {
    if (poll.done) return;
    poll.done = true;
    if (poll.timer) clearTimeout(poll.timer);
    this.held.delete(poll);
    for (const { channel } of poll.params.channels) this.ctx.log.unsubscribe(channel, poll);
    this.ctx.metrics.longpoll.subscriptions.value -= poll.params.channels.length;
  }

  /** Shutdown (CONTRACT.md): every held poll is answered 200 with `"messages": []`. */
  close(): void {
    this.closing = true;
    for (const poll of [...this.held]) this.answer(poll, null);
  }
}
