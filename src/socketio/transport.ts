import type { EnginePacket } from '../protocol/engine-io-packet.js';
import type { OutgoingPacket } from './outgoing-packet.js';

export type TransportName = 'polling' | 'websocket';

/**
 * How a transport is let go: with a close packet; with one because the server
 * shuts down (a WebSocket closes with 1001); with a noop (the client closed,
 * or the session moved to a WebSocket); or with nothing more.
 */
export type TransportEnd = 'close' | 'shutdown' | 'noop' | 'discard';

/** What a transport reports to its session (one object, no closures per connection). */
export interface TransportOwner {
  /** A packet arrived (already decoded). */
  onTransportPacket(transport: Transport, packet: EnginePacket): void;
  /** The transport failed or its peer went away; `reason` is Engine.IO's close reason. */
  onTransportClose(transport: Transport, reason: string): void;
  /** The transport can take packets now (polling: a GET is held). */
  onTransportWritable(transport: Transport): void;
}

/** One way of carrying Engine.IO packets: HTTP long-polling, or a WebSocket. */
export interface Transport {
  readonly name: TransportName;
  owner: TransportOwner;
  /** Whether send() would go out now. */
  readonly writable: boolean;
  /** Bytes written and not yet taken by the peer (the bound on slow clients). */
  readonly bufferedAmount: number;
  send(packets: readonly OutgoingPacket[]): void;
  /** One packet (the common case of a broadcast: no array per socket). */
  sendOne(packet: OutgoingPacket): void;
  /** Ends the transport; `end` says what a held poll is answered with. Idempotent. */
  close(end: TransportEnd): void;
}
