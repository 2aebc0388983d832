/** The HTTP error answer written by hand on a socket node:http has handed over. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpErrorResponse } from '../../src/http/raw-socket.js';

test('httpErrorResponse has a JSON body with the right length and closes', () => {
  const text = httpErrorResponse(426, 'unsupported version ✓', { 'Sec-WebSocket-Version': '13' });
  const [head, body] = text.split('\r\n\r\n') as [string, string];
  assert.match(head, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
  assert.match(head, /\r\nConnection: close\r\n/);
  assert.match(head, /\r\nSec-WebSocket-Version: 13(\r\n|$)/);
  assert.equal(Number(/Content-Length: (\d+)/.exec(head)![1]), Buffer.byteLength(body));
  assert.deepEqual(JSON.parse(body), { error: 'unsupported version ✓' });
});
