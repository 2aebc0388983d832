import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ifNoneMatchHits } from '../http/conditional.js';
import type { Router } from '../http/router.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  // The client as an ES module (`pushwire/client`); browsers run modules only with a JavaScript type.
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.svg', '.txt']);

/**
 * The page may load only what its own server serves: no CDN, no fonts from
 * elsewhere. 'self' covers ws:// to the same host and port (CSP level 3).
 */
function pagePolicy(scriptSources: string): string {
  return `default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'${scriptSources}; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'`;
}

/**
 * The inline scripts of a page, allowed by their hashes (CSP level 2) and
 * nothing else: a page written as the seed writes it (`<script>var socket =
 * io();</script>`) runs as written, and no injected script would.
 */
function inlineScriptHashes(html: string): string {
  let sources = '';
  for (const match of html.matchAll(/<script>([\s\S]*?)<\/script>/g)) {
    sources += ` 'sha256-${createHash('sha256').update(match[1]!, 'utf8').digest('base64')}'`;
  }
  return sources;
}

/** One encoding of a file, a representation of its own (RFC 9110 §8.8.3): its body, its ETag, its headers. */
export interface StaticVariant {
  readonly body: Buffer;
  readonly etag: string;
  /** Everything a 200 carries but Content-Length. */
  readonly headers: Record<string, string>;
  /** What a 304 carries (RFC 9110 §15.4.5: the ETag, Cache-Control and Vary a 200 would). */
  readonly notModified: Record<string, string>;
}

/** One file, read once at start, with everything an answer needs precomputed. */
export interface StaticFile {
  readonly name: string;
  readonly identity: StaticVariant;
  /** The gzip body, when the file is worth compressing. */
  readonly gzip: StaticVariant | null;
}

/**
 * Loads the regular files directly inside `dir` (no subfolders, no dot files).
 * Only these names are ever served, each at one exact path: a request can name
 * nothing outside the folder, whatever `..` or encoded slashes it holds.
 */
export function loadStaticFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() || entry.name.startsWith('.') || !/^[A-Za-z0-9_.-]+$/.test(entry.name)) continue;
    const ext = path.extname(entry.name).toLowerCase();
    const body = fs.readFileSync(path.join(dir, entry.name));
    const hash = createHash('sha256').update(body).digest('base64url').slice(0, 22);
    const headers: Record<string, string> = {
      'Content-Type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'X-Content-Type-Options': 'nosniff',
      // Revalidate every time: a rebuilt client is picked up at once, an unchanged one costs a 304.
      'Cache-Control': 'no-cache',
    };
    if (ext === '.html') {
      headers['Content-Security-Policy'] = pagePolicy(inlineScriptHashes(body.toString('utf8')));
      headers['X-Frame-Options'] = 'DENY';
      headers['Referrer-Policy'] = 'no-referrer';
    }
    let gzipped: Buffer | null = null;
    if (COMPRESSIBLE.has(ext) && body.length > 256) {
      const packed = gzipSync(body, { level: 9 });
      if (packed.length < body.length) gzipped = packed;
    }
    if (gzipped) headers.Vary = 'Accept-Encoding';
    // The gzip body is another representation: a strong ETag of its own, "-gz" inside the quotes
    // as nginx and Apache mark theirs (docs/PROTOCOL.md §4.5).
    const identity = variant(body, `"${hash}"`, headers);
    const gzip = gzipped ? variant(gzipped, `"${hash}-gz"`, { ...headers, 'Content-Encoding': 'gzip' }) : null;
    files.set(entry.name, { name: entry.name, identity, gzip });
  }
  return files;
}

function variant(body: Buffer, etag: string, headers: Record<string, string>): StaticVariant {
  const notModified: Record<string, string> = { ETag: etag, 'Cache-Control': headers['Cache-Control']! };
  if (headers.Vary) notModified.Vary = headers.Vary;
  return { body, etag, headers: { ...headers, ETag: etag }, notModified };
}

/**
 * Answers a GET or HEAD for one file: the encoding is chosen first (gzip when
 * accepted), then If-None-Match is matched against that encoding's ETag: 304
 * on a hit (docs/PROTOCOL.md §4.5).
 */
export function sendStaticFile(req: http.IncomingMessage, res: http.ServerResponse, file: StaticFile): void {
  const served = file.gzip !== null && acceptsGzip(req.headers['accept-encoding']) ? file.gzip : file.identity;
  if (ifNoneMatchHits(req.headers['if-none-match'], served.etag)) {
    res.writeHead(304, served.notModified);
    res.end();
    return;
  }
  res.writeHead(200, { ...served.headers, 'Content-Length': String(served.body.length) });
  res.end(req.method === 'HEAD' ? undefined : served.body);
}

function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return !q || Number(q.slice(2)) > 0;
  });
}

/** Routes `/` to index.html and `/<name>` to every loaded file. */
export function mountStaticFiles(router: Router, files: Map<string, StaticFile>): void {
  for (const file of files.values()) {
    router.get(`/${file.name}`, (req, res) => sendStaticFile(req, res, file));
  }
  const index = files.get('index.html');
  if (index) router.get('/', (req, res) => sendStaticFile(req, res, index));
}
