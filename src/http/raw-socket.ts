import type { Duplex } from 'node:stream';

/**
 * HTTP on a socket node:http has handed over without a ServerResponse (an
 * upgrade, a CONNECT, a request it could not parse): the error answer is
 * written by hand, and socket errors are handled by destroying the socket.
 */

const REASONS: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  413: 'Content Too Large', 431: 'Request Header Fields Too Large',
  426: 'Upgrade Required', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** A complete HTTP/1.1 error answer with a JSON body `{"error": message}`, then the connection closes. */
export function httpErrorResponse(status: number, message: string, headers: Record<string, string> = {}): string {
  const body = JSON.stringify({ error: message });
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nConnection: close\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return head + '\r\n' + body;
}

/** Refuses an upgrade: an HTTP error with a JSON body, then the socket is closed. */
export function abort(socket: Duplex, status: number, message: string, headers?: Record<string, string>): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(httpErrorResponse(status, message, headers));
  socket.once('finish', () => socket.destroy());
}

/** Socket errors (ECONNRESET, EPIPE) end the connection; a WebSocket's 'close' then reports 1006. */
export function destroySocket(this: Duplex): void {
  this.destroy();
}
