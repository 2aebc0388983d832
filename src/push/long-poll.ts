import type http from 'node:http';
import { HttpError } from '../http/respond.js';
import type { Router } from '../http/router.js';
import type { Subscriber } from './channel-log.js';
import type { PushMessage } from './message.js';
import { channelParam, sinceParam, timeoutParam } from './params.js';
import { pollBody, sendPollAnswer } from './poll.js';
import type { PushContext } from './settings.js';

/** A request waiting for the first message after `since`. */
class HeldPoll implements Subscriber {
  timer: NodeJS.Timeout | null = null;
  done = false;

  constructor(
    private readonly polls: LongPolls,
    readonly res: http.ServerResponse,
    readonly channel: string,
    readonly since: number,
  ) {}

  deliver(message: PushMessage): void {
    if (message.id > this.since) this.polls.answer(this, message);
  }

  /** Bound once per request, for setTimeout and 'close'. */
  readonly expire = (): void => this.polls.answer(this, null);
  readonly abandon = (): void => this.polls.release(this);
}

/**
 * Long polling, `GET /push/longpoll?channel=C&since=N&timeout=MS`: answered
 * at once if something after N is there (or a gap), else held until the next
 * publish or the timeout. A client that goes away is let go at once.
 */
export class LongPolls {
  private readonly held = new Set<HeldPoll>();
  private closing = false;

  constructor(private readonly ctx: PushContext) {}

  get heldCount(): number { return this.held.size; }

  mount(router: Router): void {
    router.get('/push/longpoll', (req, res, url) => this.handle(req, res, url));
  }

  private handle(_req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const { log, settings } = this.ctx;
    const channel = channelParam(url);
    const since = sinceParam(url, log, channel);
    const timeout = timeoutParam(url, settings.longPollTimeout);
    const now = log.read(channel, since);
    if (now.messages.length > 0 || now.gap || timeout === 0 || this.closing) {
      return sendPollAnswer(res, pollBody(now), this.closing);
    }
    if (this.held.size >= settings.maxHeldPolls) {
      throw new HttpError(503, `too many held long polls (${settings.maxHeldPolls}); retry later`);
    }
    const poll = new HeldPoll(this, res, channel, since);
    this.held.add(poll);
    log.subscribe(channel, poll);
    poll.timer = setTimeout(poll.expire, timeout);
    res.once('close', poll.abandon);
  }

  /** Answers a held poll: with the message that woke it, or (null) with `"messages": []`. */
  answer(poll: HeldPoll, message: PushMessage | null): void {
    if (poll.done) return;
    this.release(poll);
    if (poll.res.destroyed) return;
    let body: string | Buffer;
    if (message && message.id === poll.since + 1) body = message.singlePollBody();
    else body = pollBody(this.ctx.log.read(poll.channel, message ? poll.since : this.ctx.log.last(poll.channel)));
    sendPollAnswer(poll.res, body, this.closing);
  }

  release(poll: HeldPoll): void {
    if (poll.done) return;
    poll.done = true;
    if (poll.timer) clearTimeout(poll.timer);
    this.held.delete(poll);
    this.ctx.log.unsubscribe(poll.channel, poll);
  }

  /** Shutdown (CONTRACT.md): every held poll is answered 200 with `"messages": []`. */
  close(): void {
    this.closing = true;
    for (const poll of [...this.held]) this.answer(poll, null);
  }
}
