import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { leaveBodyUnread } from '../http/respond.js';
import { engineErrorBody, type EngineErrorCode } from '../protocol/engine-io-packet.js';

/**
 * Engine.IO's refusals (docs/PROTOCOL.md §5.1): HTTP 400 with
 * `{"code":n,"message":"..."}`, for a request and for an upgrade alike.
 */
export function answerEngineError(res: http.ServerResponse, code: EngineErrorCode): void {
  if (res.headersSent || res.destroyed) return;
  leaveBodyUnread(res);
  const body = engineErrorBody(code);
  res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

export function refuseUpgrade(socket: Duplex, code: EngineErrorCode): void {
  if (!socket.writable) return void socket.destroy();
  const body = engineErrorBody(code);
  socket.end(
    'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.once('finish', () => socket.destroy());
}
