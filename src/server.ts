#!/usr/bin/env node
import { ConfigError, HELP, parseConfig } from './config.js';
import { createPushwireServer } from './pushwire-server.js';

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

const server = createPushwireServer(config);
try {
  const { host, port } = await server.listen();
  process.stdout.write(`listening on http://${host.includes(':') ? `[${host}]` : host}:${port}\n`);
} catch (err) {
  process.stderr.write(`pushwire: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`);
  process.exit(1);
}

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`pushwire: ${signal}, shutting down\n`);
  server.shutdown().then(() => process.exit(0), (err) => {
    process.stderr.write(`pushwire: shutdown failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
