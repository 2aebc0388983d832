import { MetricsRegistry, type Counter, type CounterChild, type GaugeChild } from '../metrics/registry.js';
import type { Action } from './authorize.js';

/** The techniques that deliver messages, as the metrics label them. */
export type DeliveryTechnique = 'poll' | 'longpoll' | 'iframe' | 'sse' | 'websocket';
const TECHNIQUES: readonly DeliveryTechnique[] = ['poll', 'longpoll', 'iframe', 'sse', 'websocket'];
const ACTIONS: readonly Action[] = ['connection', 'subscribe', 'emit'];

/** The push layer's refusal reasons, in `pushwire_refusals_total{reason}` beside the HTTP server's. */
export type PushRefusal = 'authorization' | 'max_held_polls' | 'max_streams' | 'max_channels' | 'max_subscriptions_per_connection' | 'max_subscriptions_per_ip';
const REFUSALS: readonly PushRefusal[] = ['authorization', 'max_held_polls', 'max_streams', 'max_channels', 'max_subscriptions_per_connection', 'max_subscriptions_per_ip'];

/** What one technique counts: messages out, subscriptions open, slow clients cut off. */
export interface TechniqueMetrics {
  readonly delivered: CounterChild;
  readonly subscriptions: GaugeChild;
  readonly subscribed: CounterChild;
  readonly cutOff: CounterChild;
}

/**
 * The push layer's metrics (docs/PROTOCOL.md §6.2). Every series is looked up
 * once, here; the hot path adds to a field (`metrics.sse.delivered.value++`).
 * Without a registry the series exist all the same, unrendered, so the code
 * that counts has no branch.
 */
export class PushMetrics {
  readonly published: CounterChild;
  readonly poll: TechniqueMetrics;
  readonly longpoll: TechniqueMetrics;
  readonly iframe: TechniqueMetrics;
  readonly sse: TechniqueMetrics;
  readonly websocket: TechniqueMetrics;
  private readonly refusals = new Map<string, CounterChild>();
  private readonly authRefusals = new Map<string, CounterChild>();

  constructor(registry: MetricsRegistry = new MetricsRegistry()) {
    this.published = registry.counter({ name: 'pushwire_messages_published_total', help: 'Messages published through the push API (PushApi.publish, client events; Socket.IO room broadcasts go to the log directly and are not counted).' }).labels();
    const delivered = registry.counter({
      name: 'pushwire_messages_delivered_total', help: 'Messages written to clients, by technique (a poll answer counts each message it holds).',
      labelNames: ['technique'],
    });
    const subscriptions = registry.gauge({
      name: 'pushwire_subscriptions_open', help: 'Channel subscriptions open now, by technique (a channels= connection counts one per channel).',
      labelNames: ['technique'],
    });
    const subscribed = registry.counter({
      name: 'pushwire_subscriptions_total', help: 'Channel subscriptions started, by technique (a poll: one per channel asked).',
      labelNames: ['technique'],
    });
    const cutOff = registry.counter({
      name: 'pushwire_slow_consumers_total', help: 'Clients cut off because too many bytes were queued for them, by technique.',
      labelNames: ['technique'],
    });
    const of = (t: DeliveryTechnique): TechniqueMetrics => ({
      delivered: delivered.labels(t), subscriptions: subscriptions.labels(t), subscribed: subscribed.labels(t), cutOff: cutOff.labels(t),
    });
    const [poll, longpoll, iframe, sse, websocket] = TECHNIQUES.map(of);
    this.poll = poll!;
    this.longpoll = longpoll!;
    this.iframe = iframe!;
    this.sse = sse!;
    this.websocket = websocket!;
    // The HTTP server registers the family first when there is one; the push layer adds its reasons.
    const refusals = (registry.get('pushwire_refusals_total') as Counter | undefined) ?? registry.counter({
      name: 'pushwire_refusals_total', help: 'Requests and connections refused, by the limit or check that refused them.',
      labelNames: ['reason'],
    });
    for (const reason of REFUSALS) this.refusals.set(reason, refusals.labels(reason));
    const auth = registry.counter({
      name: 'pushwire_authorization_refusals_total', help: 'Refusals by the authorization hook, by what was refused: connection, subscribe, emit.',
      labelNames: ['action'],
    });
    for (const action of ACTIONS) this.authRefusals.set(action, auth.labels(action));
  }

  refused(reason: PushRefusal): void {
    this.refusals.get(reason)!.value++;
  }

  authorizationRefused(action: Action): void {
    this.refusals.get('authorization')!.value++;
    this.authRefusals.get(action)!.value++;
  }
}
