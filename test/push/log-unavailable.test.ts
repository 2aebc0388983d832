import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router } from '../../src/http/router.js';
import { LogUnavailableError } from '../../src/push/log.js';

test('LogUnavailableError thrown by a handler is answered 503 with a JSON error, not 500', async () => {
  const router = new Router();
  router.get('/sync', () => { throw new LogUnavailableError('Redis is unreachable: the connection is down'); });
  router.get('/async', async () => { throw new LogUnavailableError('Redis is unavailable: ECONNREFUSED', { cause: new Error('ECONNREFUSED') }); });
  const server = http.createServer((req, res) => router.handleRequest(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    for (const path of ['/sync', '/async']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      assert.equal(res.status, 503, path);
      assert.match(res.headers.get('content-type')!, /application\/json/);
      assert.match(((await res.json()) as { error: string }).error, /Redis is un/);
    }
  } finally {
    server.close();
  }
});
