import type { Namespace } from './namespace.js';
import type { Socket } from './socket.js';

function asList(rooms: string | readonly string[]): readonly string[] {
  return typeof rooms === 'string' ? [rooms] : rooms;
}

/**
 * Who a broadcast goes to, in the shape of socket.io's BroadcastOperator:
 * `io.to('a').to('b').except('c').emit(…)`. Immutable: each call returns a
 * new operator.
 */
export class BroadcastOperator {
  constructor(
    private readonly nsp: Namespace,
    private readonly rooms: ReadonlySet<string> = new Set(),
    private readonly exceptRooms: ReadonlySet<string> = new Set(),
    private readonly volatileFlag = false,
  ) {}

  to(room: string | readonly string[]): BroadcastOperator {
    const rooms = new Set(this.rooms);
    for (const r of asList(room)) rooms.add(r);
    return new BroadcastOperator(this.nsp, rooms, this.exceptRooms, this.volatileFlag);
  }

  in(room: string | readonly string[]): BroadcastOperator {
    return this.to(room);
  }

  except(room: string | readonly string[]): BroadcastOperator {
    const except = new Set(this.exceptRooms);
    for (const r of asList(room)) except.add(r);
    return new BroadcastOperator(this.nsp, this.rooms, except, this.volatileFlag);
  }

  /** Not logged, so not recoverable; dropped for clients that cannot take it now. */
  get volatile(): BroadcastOperator {
    return new BroadcastOperator(this.nsp, this.rooms, this.exceptRooms, true);
  }

  /** This process is the only one (kept for socket.io code that says `.local`). */
  get local(): BroadcastOperator {
    return this;
  }

  /** Sends to every socket in the rooms (all of the namespace when none), but those in the excepted rooms. */
  emit(event: string, ...args: unknown[]): boolean {
    if (typeof args[args.length - 1] === 'function') throw new Error('acknowledgements are not supported when broadcasting');
    this.nsp._broadcast(event, args, this.rooms, this.exceptRooms, this.volatileFlag);
    return true;
  }

  /** The sockets it would reach. */
  fetchSockets(): Promise<Socket[]> {
    return Promise.resolve([...this.nsp._targets(this.rooms, this.exceptRooms)]);
  }

  socketsJoin(room: string | readonly string[]): void {
    for (const socket of this.nsp._targets(this.rooms, this.exceptRooms)) socket.join(room);
  }

  socketsLeave(room: string | readonly string[]): void {
    for (const socket of this.nsp._targets(this.rooms, this.exceptRooms)) for (const r of asList(room)) socket.leave(r);
  }

  disconnectSockets(close = false): void {
    for (const socket of this.nsp._targets(this.rooms, this.exceptRooms)) socket.disconnect(close);
  }
}
