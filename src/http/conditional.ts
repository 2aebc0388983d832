/**
 * `If-None-Match` on a GET or HEAD (docs/PROTOCOL.md §4.5, RFC 9110
 * §13.1.2): true when the condition is false, so the answer is 304 Not
 * Modified. That is so for `*` (the representation exists: it is the one
 * being served), and for a list of entity tags of which one equals `etag` by
 * the weak comparison (RFC 9110 §8.8.3.2: the opaque tags are the same,
 * whether or not either is marked `W/`). A list that stops being entity tags
 * matches nothing after that point.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag;
  const n = header.length;
  let i = 0;
  for (;;) {
    // The list's separators and optional whitespace (RFC 9110 §5.6.1).
    while (i < n && (header[i] === ',' || header[i] === ' ' || header[i] === '\t')) i++;
    if (i === n) return false;
    if (header[i] === '*') return true;
    if (header.startsWith('W/', i)) i += 2;
    if (header[i] !== '"') return false;
    const end = header.indexOf('"', i + 1);
    if (end < 0) return false;
    if (end - i + 1 === opaque.length && header.startsWith(opaque, i)) return true;
    i = end + 1;
  }
}
