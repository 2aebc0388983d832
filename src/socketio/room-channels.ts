import { deconstruct, hasBinary, RESERVED_EVENTS } from '../protocol/socket-io-packet.js';
import { CHANNEL_NAME, RESERVED_PREFIX, type PushMessage } from '../push/message.js';

/**
 * How Socket.IO rooms map onto the channel log (docs/PROTOCOL.md §5.4).
 *
 * A room is a channel: in the main namespace room R is channel R, in
 * namespace /N it is channel "N:R". Every socket of a namespace is also in
 * its namespace-wide room, {@link NAMESPACE_ROOM}, which carries io.emit().
 * A room whose channel name would not be valid (too long, other characters),
 * and a socket's own id, stay local to this process and are not logged.
 */
export const NAMESPACE_ROOM = 'socket.io';

/** A broadcast the plain message shape cannot carry travels as this event, with the packet in its data. */
export const ENVELOPE_EVENT = `${RESERVED_PREFIX}socket.io`;

/** The channel of a room, or null when the room is not logged. */
export function channelOfRoom(namespace: string, room: string): string | null {
  const channel = namespace === '/' ? room : `${namespace.slice(1)}:${room}`;
  return CHANNEL_NAME.test(channel) ? channel : null;
}

/**
 * The offset a socket reports back to recover: the last id it has of each
 * of its channels, `NAME@N,NAME@N`
 * (channel names never hold "@" or ",").
 */
export function formatOffset(cursors: ReadonlyMap<string, number>): string {
  let text = '';
  for (const [channel, id] of cursors) text += (text.length === 0 ? '' : ',') + channel + '@' + id;
  return text;
}

/** Parses an offset; null when it is not one. */
export function parseOffset(text: string): Map<string, number> | null {
  if (text.length === 0 || text.length > 64 * 1024) return null;
  const cursors = new Map<string, number>();
  for (const part of text.split(',')) {
    const at = part.lastIndexOf('@');
    if (at <= 0) return null;
    const channel = part.slice(0, at);
    const digits = part.slice(at + 1);
    if (!CHANNEL_NAME.test(channel) || !/^\d{1,16}$/.test(digits) || cursors.has(channel)) return null;
    const id = Number(digits);
    if (!Number.isSafeInteger(id)) return null;
    cursors.set(channel, id);
  }
  return cursors;
}

/** What a logged broadcast carries beyond its event and arguments. */
export interface BroadcastTarget {
  /** Rooms excluded (a socket in any of them does not get it); a socket's id excludes that socket. */
  except: readonly string[];
  /** Every room the broadcast went to, when more than one (a socket in several gets it once). */
  rooms: readonly string[];
}

/** An event as it comes out of the log, ready to encode for sockets. */
export interface LoggedEvent {
  /** The event name, as JSON. */
  readonly eventJson: string;
  /** The arguments as JSON, without the brackets ('' for none); binary ones are placeholders. */
  readonly argsJson: string;
  readonly attachments: readonly Buffer[];
  readonly except: readonly string[] | null;
  readonly rooms: readonly string[] | null;
}

/** Whether an event can be logged as a plain message: a name every technique can carry. */
function plainEventName(event: string | number): event is string {
  return typeof event === 'string' && event.length > 0 && !event.startsWith(RESERVED_PREFIX) && !/[\r\n]/.test(event);
}

/** The (event, data JSON) to publish for a broadcast. */
export function toLogMessage(event: string | number, args: readonly unknown[], target: BroadcastTarget): { event: string; dataJson: string } {
  // The common case reads the same to every technique: one argument, as the message's data.
  if (args.length === 1 && plainEventName(event) && target.except.length === 0 && target.rooms.length <= 1 && !hasBinary(args[0])) {
    return { event, dataJson: JSON.stringify(args[0]) ?? 'null' };
  }
  const attachments: Buffer[] = [];
  const envelope: Record<string, unknown> = { event, args: deconstruct(args, attachments) };
  if (attachments.length > 0) envelope.attachments = attachments.map((b) => b.toString('base64'));
  if (target.except.length > 0) envelope.except = target.except;
  if (target.rooms.length > 1) envelope.rooms = target.rooms;
  return { event: ENVELOPE_EVENT, dataJson: JSON.stringify(envelope) };
}

function stringArray(value: unknown): readonly string[] | null {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : null;
}

/**
 * The Socket.IO event a logged message stands for, or null when it is not
 * one a Socket.IO client may receive (a reserved name, a server notice).
 */
export function fromLogMessage(message: PushMessage): LoggedEvent | null {
  if (message.event !== ENVELOPE_EVENT) {
    if (message.event.startsWith(RESERVED_PREFIX) || RESERVED_EVENTS.has(message.event)) return null;
    return { eventJson: JSON.stringify(message.event), argsJson: message.dataJson, attachments: [], except: null, rooms: null };
  }
  let envelope: Record<string, unknown>;
  try {
    envelope = message.data as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof envelope !== 'object' || envelope === null) return null;
  const { event, args } = envelope;
  if (!(typeof event === 'number' || (typeof event === 'string' && !RESERVED_EVENTS.has(event))) || !Array.isArray(args)) return null;
  const encoded = envelope.attachments === undefined ? [] : stringArray(envelope.attachments);
  if (encoded === null) return null;
  const argsJson = JSON.stringify(args);
  return {
    eventJson: JSON.stringify(event),
    argsJson: argsJson.slice(1, -1),
    attachments: encoded.map((b) => Buffer.from(b, 'base64')),
    except: envelope.except === undefined ? null : stringArray(envelope.except) ?? [],
    rooms: envelope.rooms === undefined ? null : stringArray(envelope.rooms),
  };
}
