/** The command line of CONTRACT.md: flags win over environment variables. */
export interface ServerConfig {
  port: number;
  host: string;
  capacity: number;
  dataDir: string;
  maxMessage: number;
  /** Run the channel log on this Redis (`redis://` or `rediss://` URL); absent: the in-memory log. */
  redis?: string;
}

export class ConfigError extends Error {}

export const HELP = `Usage: pushwire [options]   (in a checkout: node dist/server.js [options])

  --port N            TCP port (0 takes a free one)         env PORT         default 3000
  --host H            address to listen on                  env HOST         default 127.0.0.1
  --capacity N        places in the sign-up demo (>= 1)     env CAPACITY     default 100
  --data-dir DIR      where the registration journal lives  env DATA_DIR     default ./data
  --max-message BYTES largest WebSocket message accepted    env MAX_MESSAGE  default 16777216
  --redis URL         run the channel log on this Redis     env REDIS_URL    default: in memory
                      (redis://[:password@]host:port[/db]; needs npm install ioredis)
  --help              print this and exit

Flags take "--flag value" or "--flag=value". Prints "listening on http://HOST:PORT" when ready.`;

interface Spec { env: string; parse: (raw: string, name: string) => number | string }

const SPECS: Record<string, Spec & { key: keyof ServerConfig }> = {
  port: { key: 'port', env: 'PORT', parse: (v, n) => integer(v, n, 0, 65535) },
  host: { key: 'host', env: 'HOST', parse: (v, n) => nonEmpty(v, n) },
  capacity: { key: 'capacity', env: 'CAPACITY', parse: (v, n) => integer(v, n, 1, Number.MAX_SAFE_INTEGER) },
  'data-dir': { key: 'dataDir', env: 'DATA_DIR', parse: (v, n) => nonEmpty(v, n) },
  'max-message': { key: 'maxMessage', env: 'MAX_MESSAGE', parse: (v, n) => integer(v, n, 1, 2 ** 31 - 1) },
  redis: { key: 'redis', env: 'REDIS_URL', parse: (v, n) => redisUrl(v, n) },
};

export const DEFAULTS: ServerConfig = { port: 3000, host: '127.0.0.1', capacity: 100, dataDir: './data', maxMessage: 16 * 1024 * 1024 };

function integer(raw: string, name: string, min: number, max: number): number {
  const text = raw.trim();
  if (!/^\d+$/.test(text)) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  const n = Number(text);
  if (n < min || n > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
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
  const set = config as unknown as Record<string, number | string>;
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
