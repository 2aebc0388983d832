import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServerConfig } from '../config.js';
import { readJson, sendJson } from '../http/respond.js';
import type { Router } from '../http/router.js';
import { mountChat } from './chat.js';
import { Journal } from './journal.js';
import type { AppPush } from './push-api.js';
import { Registrations, nameFromBody } from './registrations.js';
import { loadStaticFiles, mountStaticFiles } from './static-files.js';

export { Journal, parseJournal, formatRecord, type Registration } from './journal.js';
export { Registrations, nameFromBody, REGISTRATIONS_CHANNEL } from './registrations.js';
export { CHAT_CHANNEL, CHAT_EVENT, chatRefusal, receiveChat } from './chat.js';
export { mountSocketIoChat } from './socketio-chat.js';
export type { AppPush } from './push-api.js';

/** docs/PROTOCOL.md §4.2: a registration body over 64 KiB gets 413; exactly 64 KiB is read. */
export const MAX_REGISTRATION_BODY = 64 * 1024;

export interface AppOptions {
  /** Where index.html, push.js and the rest are (default: dist/public of this package). */
  publicDir?: string;
  /** Start and stop lines (default: stderr, so that stdout keeps only `listening on`). */
  log?: (line: string) => void;
}

export interface App {
  readonly registrations: Registrations;
  /** Stops registrations and makes the journal durable (the shutdown of docs/PROTOCOL.md §7). */
  close(): Promise<void>;
}

/**
 * The demo of docs/PROTOCOL.md §4: the page and /push.js,
 * GET/POST /api/registrations, and the chat. Replays the journal
 * synchronously, so the count is right before the server listens.
 */
export function mountApp(router: Router, push: AppPush, config: Pick<ServerConfig, 'capacity' | 'dataDir'>, options: AppOptions = {}): App {
  const log = options.log ?? ((line: string) => process.stderr.write(`pushwire: ${line}\n`));

  const { journal, replay } = Journal.open(config.dataDir);
  if (replay.tornBytes > 0) log(`demo: skipped a torn last record (${replay.tornBytes} bytes) in ${journal.file}`);
  const registrations = new Registrations(journal, replay.registrations, config.capacity, push);
  log(`demo: ${replay.registrations.length} of ${config.capacity} places taken, journal ${journal.file}`);

  router.get('/api/registrations', async (_req, res) => sendJson(res, 200, await registrations.state()));
  router.post('/api/registrations', async (req, res) => {
    const name = nameFromBody(await readJson(req, MAX_REGISTRATION_BODY));
    sendJson(res, 201, await registrations.register(name));
  });

  mountChat(push);

  const publicDir = options.publicDir ?? defaultPublicDir();
  if (publicDir && fs.existsSync(publicDir)) {
    const files = loadStaticFiles(publicDir);
    mountStaticFiles(router, files);
    log(`demo: serving ${files.size} files from ${publicDir}`);
  } else {
    router.get('/', (_req, res) => sendJson(res, 503, { error: 'the page is not built: run npm run build' }));
    log('demo: no built page found (run npm run build); / answers 503');
  }

  return {
    registrations,
    async close() {
      await registrations.close();
      log(`demo: journal closed, ${registrations.count} registrations durable`);
    },
  };
}

/** dist/public, seen from dist/app (npm start) or from build/src/app (the tests). */
function defaultPublicDir(): string | null {
  for (const relative of ['../public/', '../../../dist/public/']) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    if (fs.existsSync(`${dir}push.js`)) return dir;
  }
  return null;
}
