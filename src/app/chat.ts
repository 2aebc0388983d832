import { EventRefused } from '../push/index.js';
import type { AppPush } from './push-api.js';
import { codePointLength } from './registrations.js';

/** The seed's Socket.IO example: `chat message` in, `chat message` out on channel `chat`. */
export const CHAT_CHANNEL = 'chat';
export const CHAT_EVENT = 'chat message';
export const MAX_CHAT_LENGTH = 1000;

/** Why a chat message is refused, or null when it is fine (1 to 1000 code points). */
export function chatRefusal(data: unknown): string | null {
  if (typeof data !== 'string') return 'a chat message must be a string';
  const length = codePointLength(data, MAX_CHAT_LENGTH + 1);
  if (length === 0) return 'a chat message must not be empty';
  if (length > MAX_CHAT_LENGTH) return `a chat message must be at most ${MAX_CHAT_LENGTH} characters`;
  return null;
}

/**
 * A chat message from any client: checked (throws EventRefused at once),
 * then published on `chat`; the promise rejects when the log cannot take it.
 */
export function receiveChat(push: Pick<AppPush, 'publish'>, data: unknown): Promise<unknown> {
  const refusal = chatRefusal(data);
  if (refusal) throw new EventRefused(refusal);
  return push.publish(CHAT_CHANNEL, CHAT_EVENT, data);
}

/** Any client (WebSocket frame or POST /push/emit) may chat; everyone subscribed to `chat` hears it. */
export function mountChat(push: AppPush): void {
  push.on(CHAT_EVENT, (data) => receiveChat(push, data));
}
