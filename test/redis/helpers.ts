// Logs on a real Redis for the tests: ioredis clients, and subscribers that check order as they go.
import { Redis } from 'ioredis';
import { RedisChannelLog, type RedisLogOptions } from '../../src/push/redis-log.js';
import type { Subscriber } from '../../src/push/log.js';
import type { PushMessage } from '../../src/push/message.js';

export interface TestLog {
  log: RedisChannelLog;
  client: Redis;
  subscriber: Redis;
  /** Errors the log reported (instead of stderr). */
  errors: Error[];
  close(): Promise<void>;
}

/**
 * One "server": a RedisChannelLog with its own two connections. `prompt`
 * uses the options of `--redis` (no offline queue, no retries of sent
 * commands: failures are immediate); otherwise ioredis's defaults.
 */
export async function openLog(url: string, options: RedisLogOptions & { prompt?: boolean } = {}): Promise<TestLog> {
  const { prompt = true, ...logOptions } = options;
  const client = new Redis(url, {
    lazyConnect: true,
    ...(prompt ? { enableOfflineQueue: false, maxRetriesPerRequest: 0 } : {}),
    retryStrategy: (times: number) => Math.min(times * 20, 200),
  });
  client.on('error', () => {});
  const subscriber = client.duplicate();
  subscriber.on('error', () => {});
  await client.connect();
  await subscriber.connect();
  const errors: Error[] = [];
  const log = new RedisChannelLog(client, { subscriber, onError: (err) => errors.push(err), ...logOptions });
  await log.start();
  return {
    log, client, subscriber, errors,
    async close() {
      await log.close();
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

/** Resolves on the next `event` of an emitter. */
export function next(emitter: { once(event: string, listener: () => void): unknown }, event: string): Promise<void> {
  return new Promise((resolve) => emitter.once(event, () => resolve()));
}

/**
 * A subscriber that records ids (gaps as 'gap:L') and fails the test on the
 * spot for a message out of order or doubled; until(id) is the sentinel.
 */
export class Collector implements Subscriber {
  readonly got: (number | string)[] = [];
  readonly messages: PushMessage[] = [];
  /** The first order violation seen, if any. */
  violation: string | null = null;
  private last = -1;
  private waiting: { id: number; resolve: () => void }[] = [];

  constructor(readonly name = 'collector') {}

  deliver(message: PushMessage): void {
    if (this.last >= 0 && message.id <= this.last) this.violation ??= `${this.name}: ${message.id} after ${this.last}`;
    this.last = message.id;
    this.got.push(message.id);
    this.messages.push(message);
    this.wake();
  }

  deliverGap(_channel: string, last: number): void {
    this.got.push(`gap:${last}`);
    this.last = last;
    this.wake();
  }

  /** Resolves once a message (or gap) with this id or above has come. */
  until(id: number): Promise<void> {
    if (this.last >= id) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ id, resolve }));
  }

  private wake(): void {
    this.waiting = this.waiting.filter((w) => (this.last >= w.id ? (w.resolve(), false) : true));
  }
}

export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
