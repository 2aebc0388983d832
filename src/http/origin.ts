/**
 * Who may open a WebSocket, subscribe or POST from a browser: the `Origin`
 * check of docs/PROTOCOL.md §6.3. Pure functions over header values.
 *
 * Browsers send `Origin` with every WebSocket upgrade, every POST and every
 * cross-origin fetch, and a page cannot forge it; non-browser clients send
 * none (or anything they like, which gains them nothing they could not do
 * without a browser). So a request without `Origin` passes, and one naming
 * another site passes only if that site is allowed.
 */

/** One entry of the allow list: a scheme and host, and a port or any port. */
export interface OriginRule {
  scheme: string;
  host: string;
  /** null: any port (`http://localhost:*`). */
  port: number | null;
}

/** `'*'` allows every origin; otherwise the rules, and `null` when the literal `null` origin is allowed. */
export type OriginPolicy = '*' | { rules: readonly OriginRule[]; allowNull: boolean };

/** The allow list used when none is configured (docs/PROTOCOL.md §6.3). */
export const DEFAULT_ALLOWED_ORIGINS: readonly string[] = ['http://localhost:*', 'http://127.0.0.1:*'];

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, ws: 80, wss: 443 };

// RFC 6454 §7: scheme "://" host [ ":" port ]; an IPv6 host is bracketed. Nothing after the port.
// Hosts are ASCII (IDNs travel as punycode): letters, digits, '.', '-', '_'.
const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}|\*))?$/i;
// A Host header (RFC 9110 §7.2): host [ ":" port ].
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/i;

/** A parsed origin; port is the explicit one, or the scheme's default; null for a wildcard port. */
interface ParsedOrigin { scheme: string; host: string; port: number | null }

function parseOrigin(text: string, allowWildcardPort: boolean): ParsedOrigin | null {
  const m = ORIGIN.exec(text);
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  const host = m[2]!.toLowerCase();
  const rawPort = m[3];
  if (rawPort === '*') return allowWildcardPort ? { scheme, host, port: null } : null;
  // A scheme with no default port (chrome-extension://id) has port 0: "none given".
  const port = rawPort === undefined ? (DEFAULT_PORTS[scheme] ?? 0) : Number(rawPort);
  if (port > 65535) return null;
  return { scheme, host, port };
}

/**
 * Parses an allow list: `*`, or origins separated by commas (`https://a.example`,
 * `http://localhost:*` for any port, `null` for the opaque origin). Throws a
 * TypeError naming the first entry that is not an origin.
 */
export function parseAllowedOrigins(entries: string | readonly string[]): OriginPolicy {
  const list = (typeof entries === 'string' ? entries.split(',') : entries).map((e) => e.trim()).filter((e) => e !== '');
  if (list.includes('*')) return '*';
  const rules: OriginRule[] = [];
  let allowNull = false;
  for (const entry of list) {
    if (entry === 'null') {
      allowNull = true;
      continue;
    }
    const origin = parseOrigin(entry, true);
    if (!origin) {
      throw new TypeError(`not an origin: ${JSON.stringify(entry)} (expected scheme://host[:port], scheme://host:*, null or *)`);
    }
    rules.push(origin);
  }
  return { rules, allowNull };
}

/** Why a request is refused, or null when its Origin may pass. */
export function originRefusal(policy: OriginPolicy, origin: string | undefined, host: string | undefined): string | null {
  if (origin === undefined) return null; // not a browser: nothing to check
  if (policy === '*') return null;
  if (origin === 'null') return policy.allowNull ? null : 'Origin "null" is not allowed';
  const parsed = parseOrigin(origin, false);
  if (!parsed) return 'malformed Origin header';
  if (isOwnOrigin(parsed, host)) return null;
  for (const rule of policy.rules) {
    if (rule.scheme === parsed.scheme && rule.host === parsed.host && (rule.port === null || rule.port === parsed.port)) return null;
  }
  return `Origin ${origin} is not allowed`;
}

/**
 * The server's own origin is the one the browser addressed: the Host header,
 * with either http or https, because a TLS-terminating proxy in front of the
 * server forwards the Host the browser used but not the scheme. No other site
 * can have that host and port, so accepting both schemes admits no one else.
 */
function isOwnOrigin(origin: ParsedOrigin, host: string | undefined): boolean {
  if (host === undefined || (origin.scheme !== 'http' && origin.scheme !== 'https')) return false;
  const m = HOST.exec(host.trim());
  if (!m) return false;
  const port = m[2] === undefined ? DEFAULT_PORTS[origin.scheme] : Number(m[2]);
  return m[1]!.toLowerCase() === origin.host && port === origin.port;
}

/** Path prefixes where every request is checked, whatever its method: the push paths. */
const CHECKED_PREFIXES = ['/push/', '/socket.io/'];

/**
 * Which requests the check applies to (docs/PROTOCOL.md §6.3): every upgrade,
 * every request on a push path, and every method a cross-site form or a
 * preflight-free fetch can send with side effects (anything but GET, HEAD and
 * OPTIONS). Plain page and resource reads are left alone.
 */
export function originChecked(method: string | undefined, path: string, upgrade: boolean): boolean {
  if (upgrade) return true;
  if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') return true;
  for (const prefix of CHECKED_PREFIXES) if (path.startsWith(prefix)) return true;
  return false;
}
