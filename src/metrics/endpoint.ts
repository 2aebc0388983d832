import type http from 'node:http';
import type { RequestHandler } from '../http/router.js';
import type { PushApi } from '../push/index.js';
import { EXPOSITION_CONTENT_TYPE, type MetricsRegistry } from './registry.js';

/** `GET /metrics`: the registry in the Prometheus text format (docs/PROTOCOL.md §6.2). */
export function serveMetrics(registry: MetricsRegistry): RequestHandler {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const text = registry.render();
    res.writeHead(200, {
      'Content-Type': EXPOSITION_CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
}

/**
 * What the push layer has open, read from its stats() at scrape time. The
 * push layer may register finer metrics of its own (per technique, messages
 * delivered, slow consumers cut off) on the same registry.
 */
export function registerPushMetrics(registry: MetricsRegistry, push: Pick<PushApi, 'stats'>): void {
  registry.gauge({
    name: 'pushwire_push_connections', help: 'Push clients connected now, by technique ("stream": SSE and iframe).',
    labelNames: ['technique'],
    collect: (g) => {
      const stats = push.stats();
      g.labels('longpoll').set(stats.heldPolls);
      g.labels('stream').set(stats.streams);
      g.labels('websocket').set(stats.websockets);
    },
  });
  registry.gauge({
    name: 'pushwire_push_subscriptions', help: 'Channel subscriptions held now (held polls, streams, WebSockets).',
    collect: (g) => g.set(push.stats().subscriptions),
  });
  registry.gauge({
    name: 'pushwire_push_channels', help: 'Channels held in memory.',
    collect: (g) => g.set(push.stats().channels),
  });
}
