#!/usr/bin/env node
import { ConfigError, HELP, parseConfig } from './config.js';
import { createPushwireServer, type PushwireServer } from './pushwire-server.js';
import { connectRedisLog, RedisSetupError, type RedisLogHandle } from './redis-connect.js';

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
let redis: RedisLogHandle | null = null;
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`pushwire: ${signal}, shutting down\n`);
  if (!server) process.exit(0);
  server.shutdown().then(() => redis?.close()).then(() => process.exit(0), (err) => {
    process.stderr.write(`pushwire: shutdown failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

if (config.redis) {
  // ioredis is loaded only here: without --redis a plain install needs nothing.
  try {
    redis = await connectRedisLog(config.redis);
  } catch (err) {
    if (!(err instanceof RedisSetupError)) throw err;
    process.stderr.write(`pushwire: ${err.message}\n`);
    process.exit(err.exitCode);
  }
}
if (stopping) process.exit(0);

try {
  server = createPushwireServer(config, redis ? { channelLog: redis.log } : {});
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
