/** WebSocket on /push/ws (docs/PROTOCOL.md §3.6): channels added and dropped in band. */
import type { Connector } from '../core/types.js';
import { toMessage, utf8Length } from './text.js';

/** Open WebSockets by base, so emit() can use one (as Socket.IO's emit does). */
const openSockets = new Map<WebSocket, string>();

/** An open WebSocket of this page to `base`, if there is one. */
export function openSocketTo(base: string): WebSocket | undefined {
  for (const [ws, wsBase] of openSockets) if (wsBase === base && ws.readyState === 1) return ws;
  return undefined;
}

export const websocket: Connector = (opening, link) => {
  const { base, channels } = opening;
  // No channel yet is fine: /push/ws opens with none, and they are added in band.
  const url = (channels.size ? opening.url('/push/ws') : base + '/push/ws').replace(/^http/, 'ws');
  const subscribed = new Set(channels.keys());
  /** In-band changes made while the socket was still connecting, sent once it opens. */
  const queued: string[] = [];
  link.request();
  const ws = new WebSocket(url);
  let stopped = false;
  ws.onopen = () => {
    if (stopped) return ws.close(1000);
    openSockets.set(ws, base);
    for (const text of queued.splice(0)) ws.send(text);
    link.opened();
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') return;
    link.bytes(utf8Length(ev.data));
    const m = toMessage(ev.data);
    if (m) link.message(m);
  };
  ws.onclose = () => {
    openSockets.delete(ws);
    if (!stopped) link.ended();
  };
  const send = (text: string) => (ws.readyState === 1 ? ws.send(text) : queued.push(text));
  const unsubscribe = (channel: string) => send(JSON.stringify({ event: 'push:unsubscribe', data: { channel } }));
  return {
    update(add, remove) {
      if (ws.readyState > 1) return false;
      for (const channel of remove) {
        subscribed.delete(channel);
        unsubscribe(channel);
      }
      for (const [channel, since] of add) {
        // Subscribing again changes nothing on the server: to go back to an older cursor, drop the channel first.
        if (subscribed.has(channel)) unsubscribe(channel);
        subscribed.add(channel);
        send(JSON.stringify({ event: 'push:subscribe', data: { channel, since } }));
      }
      return true;
    },
    stop() {
      stopped = true;
      openSockets.delete(ws);
      // Closing a socket still connecting makes the browser log an error; onopen closes it instead.
      if (ws.readyState === 1) ws.close(1000);
    },
  };
};
