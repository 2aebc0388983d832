import type http from 'node:http';
import type { Router } from '../http/router.js';
import { PushRequest, channelNames, whenAdmitted } from './authorize.js';
import { syncView, type ReadResult, type Subscriber } from './log.js';
import type { ChannelLog } from './channel-log.js';
import { UNLIMITED, type AddressQuota } from './limits.js';
import type { PushMessage } from './message.js';
import { subscriptionParams, timeoutParam, type SubscriptionParams } from './params.js';
import { latestOnly, pollAnswerBody, readChannels, sendPollAnswer } from './poll.js';
import type { PushContext } from './settings.js';

const NONE: readonly PushMessage[] = [];

/**
 * A request waiting for the first message past one of its cursors. It is
 * subscribed before the log is read, so a message published while the read
 * is out is not missed: it waits in `early` until the read is back.
 */
class HeldPoll implements Subscriber {
  timer: NodeJS.Timeout | null = null;
  done = false;
  /** Subscribed to its channels (a poll answered at once never is). */
  subscribed = false;
  /** Where its channels were counted against the client's address. */
  quota: AddressQuota = UNLIMITED;
  /** The log is being read: deliveries wait in `early`. */
  reading = true;
  early: PushMessage[] | null = null;
  /** Each channel's cursor, in the order of params.channels; set from the read where the request gave none. */
  readonly cursors: number[];
  /** Channel → index in params.channels, when there are several. */
  private readonly index: Map<string, number> | null;

  constructor(
    private readonly polls: LongPolls,
    readonly res: http.ServerResponse,
    readonly params: SubscriptionParams,
  ) {
    const { channels } = params;
    this.cursors = channels.map((c) => c.since ?? 0);
    this.index = channels.length > 1 ? new Map(channels.map((c, i) => [c.channel, i])) : null;
  }

  private indexOf(channel: string): number {
    return this.index ? this.index.get(channel) ?? -1 : 0;
  }

  deliver(message: PushMessage): void {
    if (this.reading) return void (this.early ??= []).push(message);
    const i = this.indexOf(message.channel);
    if (i >= 0 && message.id > this.cursors[i]!) this.polls.answer(this, [message], null);
  }

  /** A shared log lost messages while it could not be reached: answered at once with the gap. */
  deliverGap(channel: string, last: number): void {
    if (this.reading) return; // the read in flight finds the same gap
    const i = this.indexOf(channel);
    if (i >= 0 && last > this.cursors[i]!) this.polls.answer(this, NONE, { index: i, last });
  }

  /** Bound once per request, for setTimeout and 'close'. */
  readonly expire = (): void => this.polls.answer(this, NONE, null);
  readonly abandon = (): void => this.polls.release(this);
}

/**
 * Long polling, `GET /push/longpoll?channel=C&since=N&timeout=MS` (or
 * `channels=SPEC`): answered at once if something past a cursor is there (or
 * a gap), else held until the next publish on any of its channels, or the
 * timeout. A client that goes away is let go at once. The answer of a held
 * poll is built from what woke it and the cursors, with no second read: on a
 * shared log that would be a round trip per held poll per message.
 */
export class LongPolls {
  private readonly held = new Set<HeldPoll>();
  private closing = false;
  /** The in-memory log, read at once: a poll costs no promise (long polls come back after every message). */
  private readonly local: ChannelLog | null;

  constructor(private readonly ctx: PushContext) {
    this.local = syncView(ctx.log);
  }

  get heldCount(): number { return this.held.size; }

  mount(router: Router): void {
    router.get('/push/longpoll', (req, res, url) => this.handle(req, res, url));
  }

  /** The limits and the authorization hook first: nothing is subscribed or read for a refused request. */
  private handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void | Promise<void> {
    const { settings, limits, gate } = this.ctx;
    const params = subscriptionParams(url);
    const timeout = timeoutParam(url, settings.longPollTimeout);
    limits.subscriptionsPerConnection(params.channels.length);
    const admission = gate.admit(new PushRequest(req, url, 'longpoll'), channelNames(params.channels));
    return whenAdmitted(admission, () => res.destroyed, () => this.hold(req, res, params, timeout));
  }

  /** Subscribes (if it may be held), reads, then answers at once or holds. */
  private hold(req: http.IncomingMessage, res: http.ServerResponse, params: SubscriptionParams, timeout: number): void | Promise<void> {
    const { log, limits } = this.ctx;
    const counts = this.ctx.metrics.longpoll;
    const poll = new HeldPoll(this, res, params);
    const hold = timeout > 0 && !this.closing;
    counts.subscribed.value += params.channels.length;
    if (hold) {
      limits.channels(channelNames(params.channels));
      const quota = limits.quotaFor(req.socket.remoteAddress);
      quota.take(params.channels.length);
      poll.quota = quota;
      for (const { channel } of params.channels) log.subscribe(channel, poll);
      poll.subscribed = true;
      counts.subscriptions.value += params.channels.length;
      // Queued behind another request, only the request is closed with the connection (see stream.ts).
      res.once('close', poll.abandon);
      req.once('close', poll.abandon);
    }
    const local = this.local;
    if (local !== null) {
      const reads = params.channels.map(({ channel, since }) => (since === null ? latestOnly(local.last(channel)) : local.read(channel, since)));
      return this.proceed(poll, reads, hold, timeout);
    }
    return readChannels(log, params.channels).then((reads) => this.proceed(poll, reads, hold, timeout), (err: unknown) => {
      this.release(poll);
      throw err;
    });
  }

  /** The log has answered: answer at once, or hold the poll. */
  private proceed(poll: HeldPoll, reads: ReadResult[], hold: boolean, timeout: number): void {
    const { limits } = this.ctx;
    const { res, params } = poll;
    if (poll.done) return; // the client went away meanwhile
    let ready = !hold || this.closing;
    for (let i = 0; i < reads.length; i++) {
      const read = reads[i]!;
      if (read.messages.length > 0 || read.gap) ready = true;
      else poll.cursors[i] = read.last;
    }
    if (ready) {
      this.release(poll);
      for (const read of reads) this.ctx.metrics.longpoll.delivered.value += read.messages.length;
      return sendPollAnswer(res, pollAnswerBody(params, reads), this.closing);
    }
    poll.reading = false;
    const early = poll.early?.filter((m) => m.id > poll.cursors[params.channels.findIndex((c) => c.channel === m.channel)]!);
    poll.early = null;
    if (early && early.length > 0) return this.answer(poll, early, null);
    try {
      limits.heldPolls(this.held.size);
    } catch (err) {
      this.release(poll);
      throw err;
    }
    this.held.add(poll);
    poll.timer = setTimeout(poll.expire, timeout);
  }

  /**
   * Answers a held poll with the messages that woke it (none: timed out, or
   * a gap on channel `gap.index` up to `gap.last`). Every other channel had
   * nothing past its cursor, so its cursor is its latest id.
   */
  answer(poll: HeldPoll, messages: readonly PushMessage[], gap: { index: number; last: number } | null): void {
    if (poll.done) return;
    this.release(poll);
    if (poll.res.destroyed) return;
    const { params, cursors } = poll;
    const first = messages[0];
    let body: string | Buffer;
    if (!params.tagged && messages.length === 1 && first!.id === cursors[0]! + 1) {
      // The common case, shared by every poll held on the channel: one body for all.
      body = first!.singlePollBody();
      this.ctx.metrics.longpoll.delivered.value++;
    } else {
      const reads: ReadResult[] = cursors.map((last) => latestOnly(last));
      for (const message of messages) {
        const i = params.channels.findIndex((c) => c.channel === message.channel);
        const read = reads[i]!;
        reads[i] = { messages: read.messages === NONE ? [message] : [...read.messages, message], last: Math.max(read.last, message.id), gap: false };
      }
      if (gap !== null) reads[gap.index] = { messages: NONE, last: gap.last, gap: true };
      body = pollAnswerBody(params, reads);
      this.ctx.metrics.longpoll.delivered.value += messages.length;
    }
    sendPollAnswer(poll.res, body, this.closing);
  }

  release(poll: HeldPoll): void {
    if (poll.done) return;
    poll.done = true;
    if (poll.timer) clearTimeout(poll.timer);
    this.held.delete(poll);
    if (!poll.subscribed) return;
    for (const { channel } of poll.params.channels) this.ctx.log.unsubscribe(channel, poll);
    this.ctx.metrics.longpoll.subscriptions.value -= poll.params.channels.length;
    poll.quota.give(poll.params.channels.length);
  }

  /** Shutdown (docs/PROTOCOL.md §3.9): every held poll is answered 200 with `"messages": []`. */
  close(): void {
    this.closing = true;
    for (const poll of [...this.held]) this.answer(poll, NONE, null);
  }
}
