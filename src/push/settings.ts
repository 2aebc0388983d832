import type { MetricsRegistry } from '../metrics/registry.js';
import type { Gate, PushAuthorizer } from './authorize.js';
import type { AsyncChannelLog } from './log.js';
import type { WriteBatch } from '../http/write-batch.js';
import type { PushLimits } from './limits.js';
import type { PushMetrics } from './push-metrics.js';

/** Tuning of the push layer; every field has a default fit for production. */
export interface PushOptions {
  /** Directory where channel id reservations are kept (`channel-ids.json`); null: ids in memory only. */
  dataDir?: string | null;
  /** Messages retained per channel (docs/PROTOCOL.md §3.2: at least 1000). */
  retention?: number;
  /** Ids reserved per durable write. */
  idBlockSize?: number;
  /**
   * A ready-made log instead of the in-memory one (dataDir, retention,
   * idBlockSize are then unused): a RedisChannelLog shares the channels with
   * every server on that Redis (docs/PROTOCOL.md §3.12). Its owner closes it.
   */
  log?: AsyncChannelLog;
  /** Who may connect, subscribe to what, and send which events (docs/PROTOCOL.md §6.4); absent: everyone, everything. */
  authorize?: PushAuthorizer;
  /** Where the push layer registers its metrics (the server's GET /metrics); absent: counted, not shown. */
  metrics?: MetricsRegistry;
  /** Long polls held at once, over all channels; past it 503. */
  maxHeldPolls?: number;
  /** SSE and iframe streams open at once; past it 503. */
  maxStreams?: number;
  /** Channels on one connection (`channels=`, in-band `push:subscribe`); past it 400 / close 1008. */
  maxSubscriptionsPerConnection?: number;
  /** Channels the server holds; a subscribe or publish creating one past it gets 503 / close 1013. */
  maxChannels?: number;
  /**
   * Subscriptions held at once from one client address (an IPv6 /64), over
   * all its connections and techniques; past it 503 / close 1013. 127.0.0.1
   * and ::1 are exempt (a reverse proxy's clients all come from there).
   */
  maxSubscriptionsPerIp?: number;
  /** Default long-poll timeout (docs/PROTOCOL.md §3.4: 25000). */
  longPollTimeout?: number;
  /** Heartbeat period of SSE and iframe streams and WebSocket pings (docs/PROTOCOL.md §3.5, §3.6: at most 25 s). */
  heartbeatInterval?: number;
  /** An iframe stream is ended after this many bytes (the browser keeps every script element it ran)... */
  iframeMaxBytes?: number;
  /** ...or after this long, whichever comes first; the page reconnects with its last id. */
  iframeMaxAge?: number;
  /** SSE `retry:` hint, ms. */
  sseRetry?: number;
  /** Bytes queued for one stream or WebSocket before that slow client is cut off (stream ended / close 1013). */
  maxQueuedBytes?: number;
  /** Largest WebSocket message accepted on /push/ws (--max-message, docs/PROTOCOL.md §1.5). */
  maxMessage?: number;
  /**
   * Largest client event: a POST /push/emit body, and a message on /push/ws
   * (past it: 413, close 1009 from the frame header, before anything is parsed).
   */
  maxEmitBody?: number;
  /**
   * What is owed to one WebSocket or stream within one turn of the event loop
   * leaves in one write at the end of the turn (docs/PROTOCOL.md §3.9); false: one write per message.
   */
  coalesceWrites?: boolean;
  /** With coalesceWrites, wait this many ms more before writing (fewer writes, more latency); 0: the end of the turn. */
  writeDelay?: number;
}

export type PushSettings = Required<Omit<PushOptions, 'log' | 'dataDir' | 'authorize' | 'metrics'>> & { dataDir: string | null };

export const PUSH_DEFAULTS: PushSettings = {
  dataDir: null,
  retention: 1000,
  idBlockSize: 1000,
  maxHeldPolls: 10_000,
  maxStreams: 10_000,
  maxSubscriptionsPerConnection: 100,
  maxChannels: 100_000,
  maxSubscriptionsPerIp: 10_000,
  longPollTimeout: 25_000,
  heartbeatInterval: 20_000,
  iframeMaxBytes: 1024 * 1024,
  iframeMaxAge: 5 * 60_000,
  sseRetry: 2000,
  maxQueuedBytes: 1024 * 1024,
  maxMessage: 16 * 1024 * 1024,
  maxEmitBody: 64 * 1024,
  coalesceWrites: true,
  writeDelay: 0,
};

export function resolveSettings(options: PushOptions): PushSettings {
  const settings = { ...PUSH_DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && key in settings) (settings as Record<string, unknown>)[key] = value;
  }
  for (const key of ['maxHeldPolls', 'maxStreams', 'maxSubscriptionsPerConnection', 'maxChannels', 'maxSubscriptionsPerIp', 'maxQueuedBytes'] as const) {
    const value = settings[key];
    if (!(value === Infinity || (Number.isSafeInteger(value) && value >= 1))) throw new RangeError(`${key} must be a positive integer or Infinity`);
  }
  if (settings.heartbeatInterval > 25_000) throw new RangeError('heartbeatInterval must be at most 25000 ms (docs/PROTOCOL.md §3.6)');
  return settings;
}

/** What every technique gets: the log, the settings, the authorization gate, the limits and the metrics. */
export interface PushContext {
  readonly log: AsyncChannelLog;
  readonly settings: PushSettings;
  /** Where broadcast writes wait for the end of the turn; null when coalescing is off. */
  readonly writes: WriteBatch | null;
  readonly gate: Gate;
  readonly limits: PushLimits;
  readonly metrics: PushMetrics;
}

/** Headers that keep proxies and compressors from buffering a stream. */
export const STREAM_HEADERS = {
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  'X-Content-Type-Options': 'nosniff',
} as const;
