import { addressKey, PROXY_LOOPBACK } from '../http/connection-limits.js';
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

/**
 * The subscriptions held from one client address (docs/PROTOCOL.md §6.1): a
 * ChannelSet or a held poll takes its channels from it before subscribing and
 * gives them back when it lets them go. An empty channel lives only while
 * subscribed, so this also bounds the channels one address can create.
 */
export interface AddressQuota {
  /** Counts n more, or throws LimitRefused (503 / 1013) and counts nothing. */
  take(n: number): void;
  give(n: number): void;
}

/** A quota that never refuses: loopback (a proxy's clients share it), or no limit. */
export const UNLIMITED: AddressQuota = { take() {}, give() {} };

class CountedQuota implements AddressQuota {
  constructor(private readonly limits: PushLimits, private readonly key: string) {}
  take(n: number): void { this.limits.takeFrom(this.key, n); }
  give(n: number): void { this.limits.giveBack(this.key, n); }
}

/** The push layer's own limits, each checked where a subscription or channel would start, and counted. */
export class PushLimits {
  /** Subscriptions held now per client address (an IPv6 /64); addresses holding none are not kept. */
  private readonly perAddress = new Map<string, number>();

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

  /** The quota of a connection from `remoteAddress`. */
  quotaFor(remoteAddress: string | undefined): AddressQuota {
    const key = addressKey(remoteAddress);
    return this.settings.maxSubscriptionsPerIp === Infinity || PROXY_LOOPBACK.has(key) ? UNLIMITED : new CountedQuota(this, key);
  }

  /** Subscriptions counted for an address now (for tests and metrics). */
  subscriptionsFrom(remoteAddress: string | undefined): number {
    return this.perAddress.get(addressKey(remoteAddress)) ?? 0;
  }

  /** Would n more from this address pass the limit? Throws as take would, counts nothing (a refusal before a handshake). */
  checkFrom(quota: AddressQuota, n: number): void {
    if (quota instanceof CountedQuota) {
      quota.take(n);
      quota.give(n);
    }
  }

  takeFrom(key: string, n: number): void {
    const held = this.perAddress.get(key) ?? 0;
    const max = this.settings.maxSubscriptionsPerIp;
    if (held + n > max) {
      this.refuse(503, `too many subscriptions from your address (limit ${max}); retry later`, CloseCode.TryAgainLater, 'max_subscriptions_per_ip');
    }
    if (n > 0) this.perAddress.set(key, held + n);
  }

  giveBack(key: string, n: number): void {
    const held = (this.perAddress.get(key) ?? 0) - n;
    if (held > 0) this.perAddress.set(key, held);
    else this.perAddress.delete(key);
  }

  private refuse(status: number, message: string, closeCode: number, reason: PushRefusal): never {
    this.metrics.refused(reason);
    throw new LimitRefused(status, message, closeCode, reason);
  }
}
