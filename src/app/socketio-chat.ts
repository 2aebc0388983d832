import type { Server } from '../socketio/index.js';
import { EventRefused } from '../push/index.js';
import { CHAT_CHANNEL, CHAT_EVENT, receiveChat } from './chat.js';
import type { AppPush } from './push-api.js';

/**
 * The seed's Socket.IO chat on the channel log. Every socket of the main
 * namespace is in room `chat`, which is channel `chat`: it gets every `chat
 * message` published there by any technique, its own included (the seed's
 * `io.emit`). A `chat message` it sends passes the same check as any other
 * client's; a refused one is dropped, and its acknowledgement, if it asked
 * for one, says why: `{"error": "..."}`; so does a message the log could
 * not take (a shared log that cannot reach Redis).
 */
export function mountSocketIoChat(io: Server, push: Pick<AppPush, 'publish'>): void {
  io.on('connection', (socket) => {
    socket.join(CHAT_CHANNEL);
    socket.on(CHAT_EVENT, (data: unknown, ack?: unknown) => {
      const reply = (answer: Record<string, unknown>) => { if (typeof ack === 'function') ack(answer); };
      let published: Promise<unknown>;
      try {
        published = receiveChat(push, data);
      } catch (err) {
        if (!(err instanceof EventRefused)) throw err;
        return reply({ error: err.message });
      }
      published.then(() => reply({ ok: true }), (err: unknown) => reply({ error: (err as Error)?.message ?? 'not published' }));
    });
  });
}
