import { isIPv4, isIPv6 } from 'node:net';

/** Why a connection is refused: the limit it would pass. */
export type LimitReason = 'max_connections' | 'max_connections_per_ip';

export interface ConnectionLimitSettings {
  /** Open connections at once, all clients together; 0: no limit. */
  maxConnections: number;
  /** Open connections at once from one client address (an IPv6 /64); 0: no limit. */
  maxConnectionsPerIp: number;
}

/**
 * The loopback addresses a reverse proxy on the same host connects from: every
 * client behind it would share one per-address quota, so these two are not
 * limited per address (the overall limit still counts them).
 */
export const PROXY_LOOPBACK: ReadonlySet<string> = new Set(['127.0.0.1', '::1']);

/**
 * The key a client's connections are counted under: an IPv4 address (also
 * when written IPv4-mapped, `::ffff:a.b.c.d`), or the /64 prefix of an IPv6
 * address, the block one subscriber is usually given, so that a client cannot
 * spread over its 2^64 addresses to pass the limit.
 */
export function addressKey(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return 'unknown';
  if (isIPv4(remoteAddress)) return remoteAddress;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(remoteAddress)) return remoteAddress;
  if (remoteAddress === '::1') return remoteAddress;
  return ipv6Prefix64(remoteAddress);
}

/** The first four groups of an IPv6 address, expanded: "2001:db8:0:1::/64". */
function ipv6Prefix64(address: string): string {
  const zone = address.indexOf('%');
  const bare = zone === -1 ? address : address.slice(0, zone);
  const [head = '', tail] = bare.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail takes two groups; the prefix never reaches it unless nothing is elided.
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  return groups.slice(0, 4).map((g) => (g === '' ? '0' : g.toLowerCase().replace(/^0+(?=.)/, ''))).join(':') + '::/64';
}

/**
 * Counts open connections, overall and per client address, and says whether
 * one more may be admitted. Pure bookkeeping: the caller admits on accept and
 * releases on close, with the key it admitted under.
 */
export class ConnectionLimits {
  private total = 0;
  private readonly perKey = new Map<string, number>();

  constructor(private readonly settings: ConnectionLimitSettings) {}

  get open(): number { return this.total; }

  /** Connections counted under this key now. */
  countFor(key: string): number { return this.perKey.get(key) ?? 0; }

  /** Counts the connection in and returns null, or returns the limit it would pass (and counts nothing). */
  admit(key: string): LimitReason | null {
    const { maxConnections, maxConnectionsPerIp } = this.settings;
    if (maxConnections > 0 && this.total >= maxConnections) return 'max_connections';
    const current = this.perKey.get(key) ?? 0;
    if (maxConnectionsPerIp > 0 && current >= maxConnectionsPerIp && !PROXY_LOOPBACK.has(key)) return 'max_connections_per_ip';
    this.total++;
    this.perKey.set(key, current + 1);
    return null;
  }

  release(key: string): void {
    const current = this.perKey.get(key);
    if (current === undefined) return;
    this.total--;
    if (current <= 1) this.perKey.delete(key);
    else this.perKey.set(key, current - 1);
  }
}
