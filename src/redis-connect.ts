import { RedisChannelLog, type RedisCommandClient, type RedisSubscriberClient } from './push/redis-log.js';

/** Why `--redis` could not start, and the exit code of the command line for it. */
export class RedisSetupError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2) {
    super(message);
    this.name = 'RedisSetupError';
  }
}

/** The channel log on Redis and the two connections behind it. */
export interface RedisLogHandle {
  readonly log: RedisChannelLog;
  /** Closes the log and both connections. */
  close(): Promise<void>;
}

export interface RedisConnectOptions {
  /** How long connecting and the first PING may take (default 3000 ms). */
  timeout?: number;
  retention?: number;
  /** Where connection-lost / back lines go (default stderr). */
  log?: (line: string) => void;
}

/** The parts of ioredis used here (it is loaded at run time, so its types are not needed to build). */
interface IoRedis extends RedisCommandClient {
  connect(): Promise<void>;
  ping(): Promise<string>;
  quit(): Promise<unknown>;
  disconnect(): void;
  duplicate(): IoRedis & RedisSubscriberClient;
  on(event: string, listener: (...args: any[]) => void): unknown;
}
type IoRedisConstructor = new (url: string, options: Record<string, unknown>) => IoRedis;

/** The URL with its password hidden, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const expired = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms); });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * Loads `ioredis` (an optional peer dependency: only `--redis` needs it),
 * connects, checks Redis with a PING and starts the shared channel log.
 * Throws RedisSetupError: exit code 2 when ioredis is not installed, 1 when
 * Redis cannot be reached.
 */
export async function connectRedisLog(url: string, options: RedisConnectOptions = {}): Promise<RedisLogHandle> {
  const timeout = options.timeout ?? 3000;
  const say = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const Redis = await loadIoredis();
  const where = redactUrl(url);
  // No offline queue and no retries of sent commands: while Redis is away a publish
  // fails at once (HTTP 503) instead of waiting in a queue for a Redis that may not come back.
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeout,
    retryStrategy: (times: number) => Math.min(times * 100, 2000),
  });
  // Connection errors reach the callers of the commands; the lines below tell the operator.
  let cause: Error | null = null;
  const remember = (err: Error) => { cause = err; };
  client.on('error', remember);
  const subscriber = client.duplicate();
  subscriber.on('error', remember);
  try {
    await deadline(client.connect().then(() => client.ping()), timeout, 'connecting');
    await deadline(subscriber.connect(), timeout, 'connecting');
  } catch (err) {
    client.disconnect();
    subscriber.disconnect();
    // "Connection is closed." says less than the socket's own error (ECONNREFUSED...).
    throw new RedisSetupError(`cannot reach Redis at ${where}: ${(cause ?? (err as Error)).message}`, 1);
  }
  const log = new RedisChannelLog(client, { subscriber, ...(options.retention ? { retention: options.retention } : {}) });
  try {
    await deadline(log.start(), timeout, 'subscribing');
  } catch (err) {
    await log.close();
    client.disconnect();
    subscriber.disconnect();
    throw new RedisSetupError(`cannot subscribe on Redis at ${where}: ${(err as Error).message}`, 1);
  }
  let lost = false;
  client.on('close', () => {
    if (!lost) say(`pushwire: lost the connection to Redis at ${where}; publishing fails until it is back`);
    lost = true;
  });
  client.on('ready', () => {
    if (lost) say(`pushwire: Redis at ${where} is back`);
    lost = false;
  });
  return {
    log,
    async close() {
      await log.close();
      // QUIT waits for Redis's answer; a Redis that is away gets a second, then the sockets are dropped.
      const quit = Promise.all([client.quit(), subscriber.quit()]);
      await deadline(quit, 1000, 'QUIT').catch(() => {});
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

async function loadIoredis(): Promise<IoRedisConstructor> {
  // A variable, so that building pushwire needs no ioredis either.
  const name = 'ioredis';
  let mod: { default?: unknown; Redis?: unknown };
  try {
    mod = await import(name);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(`'${name}'`)) {
      throw new RedisSetupError('--redis needs the ioredis package, which is not installed: run npm install ioredis', 2);
    }
    throw new RedisSetupError(`--redis: cannot load ioredis (npm install ioredis): ${e.message.split('\n')[0]}`, 2);
  }
  const Redis = (mod.Redis ?? mod.default) as IoRedisConstructor | undefined;
  if (typeof Redis !== 'function') throw new RedisSetupError('--redis: the installed ioredis has no Redis class (npm install ioredis@5)', 2);
  return Redis;
}
