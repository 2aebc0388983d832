import { EnginePacketType } from '../protocol/engine-io-packet.js';
import { deconstruct, encodePacket, encodePacketText, SocketPacketType, type SocketPacket } from '../protocol/socket-io-packet.js';
import { OutgoingPacket } from './outgoing-packet.js';
import type { LoggedEvent } from './room-channels.js';

const MESSAGE = String.fromCharCode(48 + EnginePacketType.Message);

/** A Socket.IO packet as the Engine.IO packets that carry it: its text, then its attachments. */
export function enginePackets(packet: SocketPacket): OutgoingPacket[] {
  const { text, attachments } = encodePacket(packet);
  const out = [OutgoingPacket.text(MESSAGE + text)];
  for (const attachment of attachments) out.push(OutgoingPacket.binary(attachment));
  return out;
}

/** An event's name and arguments in the form the log and the broadcasts use. */
export function toLoggedEvent(event: string | number, args: readonly unknown[]): LoggedEvent {
  const attachments: Buffer[] = [];
  const argsJson = JSON.stringify(deconstruct(args, attachments));
  return { eventJson: JSON.stringify(event), argsJson: argsJson.slice(1, -1), attachments, except: null, rooms: null };
}

/**
 * The packets of an event for every socket of a namespace that has this
 * offset (null: recovery off, no offset argument). Made once and shared: the
 * same frames are written to each of those sockets.
 */
export function eventPackets(namespace: string, event: LoggedEvent, offset: string | null, shared: boolean): OutgoingPacket[] {
  let json = '[' + event.eventJson;
  if (event.argsJson.length > 0) json += ',' + event.argsJson;
  // Offsets hold only channel-name characters, "@", digits and ",": no JSON escaping needed.
  if (offset !== null) json += ',"' + offset + '"';
  json += ']';
  const count = event.attachments.length;
  const type = count > 0 ? SocketPacketType.BinaryEvent : SocketPacketType.Event;
  const out = [OutgoingPacket.text(MESSAGE + encodePacketText(type, namespace, undefined, json, count), shared)];
  for (let i = 0; i < count; i++) out.push(OutgoingPacket.binary(event.attachments[i]!, shared));
  return out;
}
