/** What the techniques do with the text they receive. */
import type { Message } from '../core/types.js';

/** UTF-8 length of a string, without encoding it (the bytes a connection counts). */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}

/** A frame's or an event's data: the message object with its channel (docs/PROTOCOL.md §3.11); null if not JSON. */
export function toMessage(data: string): Message | null {
  try {
    return JSON.parse(data) as Message;
  } catch {
    return null;
  }
}
