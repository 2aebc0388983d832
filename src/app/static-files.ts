import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
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

/** One file, read once at start, with everything an answer needs precomputed. */
export interface StaticFile {
  readonly name: string;
  readonly body: Buffer;
  readonly gzipped: Buffer | null;
  readonly etag: string;
  readonly headers: Record<string, string>;
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
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    const headers: Record<string, string> = {
      'Content-Type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'X-Content-Type-Options': 'nosniff',
      ETag: etag,
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
    files.set(entry.name, { name: entry.name, body, gzipped, etag, headers });
  }
  return files;
}

/** Answers a GET or HEAD for one file: 304 on a matching If-None-Match, gzip when accepted. */
export function sendStaticFile(req: http.IncomingMessage, res: http.ServerResponse, file: StaticFile): void {
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch && ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === file.etag)) {
    res.writeHead(304, { ETag: file.etag, 'Cache-Control': file.headers['Cache-Control']!, ...(file.gzipped ? { Vary: 'Accept-Encoding' } : {}) });
    res.end();
    return;
  }
  const gzip = file.gzipped !== null && acceptsGzip(req.headers['accept-encoding']);
  const body = gzip ? file.gzipped! : file.body;
  res.writeHead(200, { ...file.headers, ...(gzip ? { 'Content-Encoding': 'gzip' } : {}), 'Content-Length': String(body.length) });
  res.end(req.method === 'HEAD' ? undefined : body);
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
