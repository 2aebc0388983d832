#!/usr/bin/env node
import { ConfigError, HELP, parseConfig } from './config.js';
import { createPushwireServer, type PushwireServer } from './pushwire-server.js';

let config;
try {
  config = parseConfig(process.argv.slice(2), process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`pushwire: ${err.message}\n`);
  process.exit(2);
}
if (config === 'help') {
  process.stdout.write(HELP + '\n');
  process.exit(0);
}

// Signals are handled before anything listens, so a SIGTERM right after the "listening" line is a clean stop.
let server: PushwireServer | null = null;
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`pushwire: ${signal}, shutting down\n`);
  if (!server) process.exit(0);
  server.shutdown().then(() => process.exit(0), (err) => {
    process.stderr.write(`pushwire: shutdown failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

try {
  server = createPushwireServer(config);
} catch (err) {
  process.stderr.write(`pushwire: cannot start with data dir ${config.dataDir}: ${(err as Error).message}\n`);
  process.exit(1);
}
try {
  const { host, port } = await server.listen();
  if (!stopping) process.stdout.write(`listening on http://${host.includes(':') ? `[${host}]` : host}:${port}\n`);
} catch (err) {
  process.stderr.write(`pushwire: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`);
  process.exit(1);
}
