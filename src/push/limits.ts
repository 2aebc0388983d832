import { HttpError } from '../http/respond.js';
import { CloseCode } from '../protocol/constants.js';
import type { PushMetrics, PushRefusal } from './push-metrics.js';
import type { PushSettings } from './settings.js';

/**
 * A limit of docs/PROTOCOL.md §6.1 reached: the HTTP status to answer (503:
 * retry later, 400: never good), and the close code for a WebSocket already
 * open (1013 try again later, 1008 policy).
 */
export class LimitRefused extends HttpError {
  constructor(status: number, message: string, readonly closeCode: number, readonly reason: PushRefusal) {
    super(status, message);
    this.name = 'LimitRefused';
  }
}

/** The push layer's own limits, each checked where a subscription or channel would start, and counted. */
export class PushLimits {
  constructor(
    private readonly settings: PushSettings,
    private readonly log: { readonly channelCount: number; hasChannel?(channel: string): boolean },
    private readonly metrics: PushMetrics,
  ) {}

  /** Channels on one connection (a `channels=` list, or in-band subscriptions): past the limit 400 / 1008. */
  subscriptionsPerConnection(count: number): void {
    const max = this.settings.maxSubscriptionsPerConnection;
    if (count > max) this.refuse(400, `at most ${max} channels per connection`, CloseCode.PolicyViolation, 'max_subscriptions_per_connection');
  }

  /**
   * Channels held by the server: a subscribe or publish that would create
   * channels past the limit gets 503 / 1013. A log that cannot tell which
   * channels it holds (no hasChannel) is not limited here.
   */
  channels(names: readonly string[]): void {
    const max = this.settings.maxChannels;
    const { log } = this;
    if (max === Infinity || !log.hasChannel) return;
    let count = log.channelCount;
    if (count + names.length <= max) return;
    for (const name of names) {
      if (!log.hasChannel(name) && ++count > max) {
        this.refuse(503, `too many channels on this server (limit ${max}); retry later`, CloseCode.TryAgainLater, 'max_channels');
      }
    }
  }

  streams(open: number): void {
    const max = this.settings.maxStreams;
    if (open >= max) this.refuse(503, `too many open streams (limit ${max}); retry later`, CloseCode.TryAgainLater, 'max_streams');
  }

  heldPolls(held: number): void {
    const max = this.settings.maxHeldPolls;
    if (held >= max) this.refuse(503, `too many held long polls (limit ${max}); retry later`, CloseCode.TryAgainLater, 'max_held_polls');
  }

  private refuse(status: number, message: string, closeCode: number, reason: PushRefusal): never {
    this.metrics.refused(reason);
    throw new LimitRefused(status, message, closeCode, reason);
  }
}
