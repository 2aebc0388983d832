import { DEFAULT_ALLOWED_ORIGINS, parseAllowedOrigins } from './http/origin.js';
import { parseAllowedHosts } from './http/hosts.js';

/** The command line (docs/PROTOCOL.md): flags win over environment variables. */
export interface ServerConfig {
  port: number;
  host: string;
  capacity: number;
  dataDir: string;
  maxMessage: number;
  /** Run the channel log on this Redis (`redis://` or `rediss://` URL); absent: the in-memory log. */
  redis?: string;
  // Operations (docs/PROTOCOL.md §6); optional for callers that build a config by hand.
  /** Origins allowed besides the server's own, or ['*']. */
  allowOrigin?: string[];
  /** Host names answered to besides the loopback ones and --host (docs/PROTOCOL.md §6.3); `*`: any. */
  allowHost?: string[];
  /** Open connections at once; 0: no limit; absent: the open-file limit minus a reserve. */
  maxConnections?: number;
  /** Open connections at once per client address; 0: no limit. */
  maxConnectionsPerIp?: number;
  /** Subscriptions held at once from one client address (docs/PROTOCOL.md §6.1); 0: no limit. */
  maxSubscriptionsPerIp?: number;
  /** Time a connection gets to send a complete request head, ms. */
  headersTimeout?: number;
  /** An HTTP connection silent both ways this long is closed, ms; 0: never. */
  idleTimeout?: number;
}

export class ConfigError extends Error {}

export const HELP = `Usage: pushwire [options]   (in a checkout: node dist/server.js [options])

  --port N                    TCP port (0 takes a free one)              env PORT
                              default 3000
  --host H                    address to listen on                       env HOST
                              default 127.0.0.1
  --capacity N                places in the sign-up demo (>= 1)          env CAPACITY
                              default 100
  --data-dir DIR              where the registration journal lives       env DATA_DIR
                              default ./data
  --max-message BYTES         largest WebSocket message accepted         env MAX_MESSAGE
                              (client events on /push/ws and Socket.IO:
                              64 KiB at most) default 16777216
  --allow-origin LIST         origins allowed besides the server's own:  env ALLOW_ORIGIN
                              comma-separated, or *
                              default http://localhost:*,http://127.0.0.1:*
  --allow-host LIST           Host names answered to besides localhost,  env ALLOW_HOST
                              127.0.0.1, [::1] and --host (any port):
                              comma-separated, .domain for it and its
                              subdomains, or *; others get 403 on the
                              push paths, upgrades and POSTs
  --max-connections N         open connections at once (0: no limit)     env MAX_CONNECTIONS
                              default the open-file limit minus 256
  --max-connections-per-ip N  the same from one client address           env MAX_CONNECTIONS_PER_IP
                              (an IPv6 /64; 0: no limit; 127.0.0.1 and ::1 exempt)
                              default 1000
  --max-subscriptions-per-ip N  channels subscribed at once from one     env MAX_SUBSCRIPTIONS_PER_IP
                              address, every technique together (0: no
                              limit; 127.0.0.1 and ::1 exempt) default 10000
  --headers-timeout MS        time to send a complete request head       env HEADERS_TIMEOUT
                              default 30000
  --idle-timeout MS           close an HTTP connection silent this long  env IDLE_TIMEOUT
                              (0: never; not a held poll or stream) default 75000
  --redis URL                 run the channel log on this Redis          env REDIS_URL
                              (redis://[:password@]host:port[/db]; needs npm install ioredis)
                              default: in memory
  --help                      print this and exit

Flags take "--flag value" or "--flag=value". Prints "listening on http://HOST:PORT" when ready.`;

interface Spec { env: string; parse: (raw: string, name: string) => number | string | string[] }

const SPECS: Record<string, Spec & { key: keyof ServerConfig }> = {
  port: { key: 'port', env: 'PORT', parse: (v, n) => integer(v, n, 0, 65535) },
  host: { key: 'host', env: 'HOST', parse: (v, n) => nonEmpty(v, n) },
  capacity: { key: 'capacity', env: 'CAPACITY', parse: (v, n) => integer(v, n, 1, Number.MAX_SAFE_INTEGER) },
  'data-dir': { key: 'dataDir', env: 'DATA_DIR', parse: (v, n) => nonEmpty(v, n) },
  'max-message': { key: 'maxMessage', env: 'MAX_MESSAGE', parse: (v, n) => integer(v, n, 1, 2 ** 31 - 1) },
  redis: { key: 'redis', env: 'REDIS_URL', parse: (v, n) => redisUrl(v, n) },
  'allow-origin': { key: 'allowOrigin', env: 'ALLOW_ORIGIN', parse: (v, n) => originList(v, n) },
  'allow-host': { key: 'allowHost', env: 'ALLOW_HOST', parse: (v, n) => hostList(v, n) },
  'max-connections': { key: 'maxConnections', env: 'MAX_CONNECTIONS', parse: (v, n) => integer(v, n, 0, 2 ** 31 - 1) },
  'max-connections-per-ip': { key: 'maxConnectionsPerIp', env: 'MAX_CONNECTIONS_PER_IP', parse: (v, n) => integer(v, n, 0, 2 ** 31 - 1) },
  'max-subscriptions-per-ip': { key: 'maxSubscriptionsPerIp', env: 'MAX_SUBSCRIPTIONS_PER_IP', parse: (v, n) => integer(v, n, 0, 2 ** 31 - 1) },
  'headers-timeout': { key: 'headersTimeout', env: 'HEADERS_TIMEOUT', parse: (v, n) => integer(v, n, 1, 3_600_000) },
  'idle-timeout': { key: 'idleTimeout', env: 'IDLE_TIMEOUT', parse: (v, n) => integer(v, n, 0, 2 ** 31 - 1) },
};

export const DEFAULTS: ServerConfig = { port: 3000, host: '127.0.0.1', capacity: 100, dataDir: './data', maxMessage: 16 * 1024 * 1024 };

/**
 * Defaults of the operational settings, applied by createPushwireServer when the
 * config leaves them out (maxConnections: the open-file limit minus a reserve).
 */
export const OPERATION_DEFAULTS = {
  allowOrigin: DEFAULT_ALLOWED_ORIGINS,
  maxConnectionsPerIp: 1000,
  headersTimeout: 30_000,
  idleTimeout: 75_000,
} as const;

function integer(raw: string, name: string, min: number, max: number): number {
  const text = raw.trim();
  if (!/^\d+$/.test(text)) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  const n = Number(text);
  if (n < min || n > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function originList(raw: string, name: string): string[] {
  try {
    parseAllowedOrigins(raw);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
  return raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
}

function hostList(raw: string, name: string): string[] {
  try {
    parseAllowedHosts('localhost', raw);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
  return raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
}

function redisUrl(raw: string, name: string): string {
  let url: URL | null = null;
  try {
    url = new URL(raw.trim());
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) {
    // The value is not echoed: it may hold a password.
    throw new ConfigError(`${name} must be a redis://host:port or rediss://host:port URL`);
  }
  return raw.trim();
}

function nonEmpty(raw: string, name: string): string {
  if (raw.trim() === '') throw new ConfigError(`${name} must not be empty`);
  return raw;
}

/** Returns the configuration, 'help' for --help, or throws ConfigError naming the bad flag or variable. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServerConfig | 'help' {
  const config: ServerConfig = { ...DEFAULTS };
  const set = config as unknown as Record<string, unknown>;
  for (const [, spec] of Object.entries(SPECS)) {
    const raw = env[spec.env];
    if (raw !== undefined) set[spec.key] = spec.parse(raw, `environment variable ${spec.env}`);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const spec = m ? SPECS[m[1]!] : undefined;
    if (!m || !spec) throw new ConfigError(`unknown option ${arg} (see --help)`);
    let value = m[2];
    if (value === undefined) {
      value = argv[++i];
      // "--host --port 0": the next flag is not a value.
      if (value === undefined || value.startsWith('--')) throw new ConfigError(`--${m[1]} needs a value`);
    }
    set[spec.key] = spec.parse(value, `--${m[1]}`);
  }
  return config;
}
