/**
 * Which `Host` the server answers to (docs/PROTOCOL.md §6.3, "The Host
 * check"). A page on a rebinding domain (evil.example resolving first to its
 * own server, then to 127.0.0.1) is same-origin with itself, and its
 * requests carry `Host: evil.example`: so the Origin rule alone, which takes
 * the server's own origin from `Host`, would let it in. Only names the
 * server is known by pass. Pure functions over header values.
 */

/** `'*'`: every host; otherwise exact names and domain suffixes (`.example.com`: it and its subdomains). */
export type HostPolicy = '*' | { names: ReadonlySet<string>; domains: readonly string[] };

/** The names answered to whatever the flags say: the loopback ones. */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

// A name, an IPv4 address, or a bracketed IPv6 one; `.name` for a domain.
const ENTRY = /^(\*|\.?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])$/i;
// A Host header (RFC 9110 §7.2): host [ ":" port ].
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::\d{1,5})?$/i;

/** An address to listen on, as it appears in a Host header (an IPv6 one bracketed). */
export function hostName(listen: string): string {
  const name = listen.trim().toLowerCase();
  return name.includes(':') && !name.startsWith('[') ? `[${name}]` : name;
}

/**
 * The loopback names, the listen address, and `extra` (a comma-separated list
 * or entries: names, `.domain`, `*`). Throws a TypeError naming the first
 * entry that is not a host name.
 */
export function parseAllowedHosts(listen: string, extra: string | readonly string[] = []): HostPolicy {
  const list = (typeof extra === 'string' ? extra.split(',') : extra).map((e) => e.trim().toLowerCase()).filter((e) => e !== '');
  const names = new Set([...LOOPBACK_HOSTS, hostName(listen)]);
  const domains: string[] = [];
  for (const entry of list) {
    if (!ENTRY.test(entry)) throw new TypeError(`not a host name: ${JSON.stringify(entry)} (expected name, .domain or *)`);
    if (entry === '*') return '*';
    if (entry.startsWith('.')) domains.push(entry);
    else names.add(hostName(entry));
  }
  return { names, domains };
}

/** Why a request is refused for its Host header, or null when it may pass. */
export function hostRefusal(policy: HostPolicy, host: string | undefined): string | null {
  if (policy === '*') return null;
  // HTTP/1.0 without Host: nothing a browser sends, and nothing to rebind.
  if (host === undefined) return null;
  const m = HOST.exec(host.trim());
  if (!m) return 'malformed Host header';
  let name = m[1]!.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1); // "localhost." is localhost
  if (policy.names.has(name)) return null;
  for (const domain of policy.domains) if (name === domain.slice(1) || name.endsWith(domain)) return null;
  return `Host ${JSON.stringify(host)} is not a name this server answers to (--allow-host)`;
}
