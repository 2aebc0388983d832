/**
 * The client's state for one page: its own hubs and, per server, the
 * sharing between windows. A browser makes one (api.ts); a test makes one
 * per simulated window, each with its own Env.
 */
import { Hub } from './hub.js';
import { Share } from './share.js';
import { Subscriber, type Route } from './subscription.js';
import type { ConnectionOptions, Env, Message, SubscribeOptions, Subscription, Transport } from './types.js';

export interface Client {
  subscribe(channel: string, onMessage: (m: Message) => void, options?: SubscribeOptions): Subscription;
}

export function createClient(env: Env): Client {
  const hubOf = (hubs: Map<string, Hub>, key: string, base: string, order: readonly Transport[], options: ConnectionOptions): Hub => {
    let hub = hubs.get(key);
    if (!hub) {
      hub = new Hub(env, base, order, options, (h) => {
        if (hubs.get(key) === h) hubs.delete(key);
      });
      hubs.set(key, hub);
    }
    return hub;
  };

  /** This page's own connections, by server and technique order. */
  const ownHubs = new Map<string, Hub>();
  const alone: Route = {
    attach(sub) {
      sub.role = 'alone';
      hubOf(ownHubs, sub.base + ' ' + sub.key, sub.base, sub.order, sub.connection).addWatcher(sub);
    },
    detach(sub) {
      ownHubs.get(sub.base + ' ' + sub.key)?.removeWatcher(sub);
    },
    touch(sub) {
      ownHubs.get(sub.base + ' ' + sub.key)?.touch();
    },
  };

  const shares = new Map<string, Share>();
  const routeOf = (sub: Subscriber): Route => {
    const windows = env.windows;
    if (!sub.shares || !windows) return alone;
    let share = shares.get(sub.base);
    if (!share) {
      const base = sub.base;
      share = new Share(env, windows, base, (hubs, key, order, options) => hubOf(hubs, key, base, order, options), alone);
      shares.set(base, share);
    }
    return share;
  };

  return { subscribe: (channel, onMessage, options = {}) => new Subscriber(env, channel, onMessage, options, routeOf) };
}
