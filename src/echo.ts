import type { Router } from './http/router.js';
import { WebSocketServer } from './websocket/server.js';

/**
 * GET /echo (docs/PROTOCOL.md §1): every complete text or binary message goes back
 * unchanged with the same opcode. No subprotocol is ever selected;
 * permessage-deflate is negotiated when offered.
 */
export function mountEcho(router: Router, maxPayload: number): WebSocketServer {
  // permessage-deflate with the defaults when the client offers it (docs/PROTOCOL.md §2.1).
  const wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: true });
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
  router.upgrade('/echo', (req, socket, head) => wss.handleUpgrade(req, socket, head));
  return wss;
}
