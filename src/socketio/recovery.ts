import type { PushMessage } from '../push/message.js';
import type { ChannelAdapter } from './channel-adapter.js';
import { parseOffset } from './room-channels.js';

/** Connection state recovery, as socket.io 4.6's `connectionStateRecovery` option. */
export interface RecoveryOptions {
  /** How long a session is kept after its socket was cut (default 2 minutes). */
  maxDisconnectionDuration?: number;
  /** A recovered socket skips the namespace's middlewares (default true). */
  skipMiddlewares?: boolean;
}

/** socket.io's list: a socket cut for one of these may come back and recover. */
export const RECOVERABLE_REASONS: ReadonlySet<string> = new Set([
  'transport error', 'transport close', 'forced close', 'ping timeout', 'server shutting down', 'forced server close',
]);

/** What is kept of a socket that was cut, until it comes back or the session expires. */
export interface PersistedSession {
  sid: string;
  pid: string;
  namespace: string;
  /** Its rooms (not its own id). */
  rooms: string[];
  data: unknown;
  /** For each channel it followed: the channel's last id when it joined (the offset may know better). */
  joinCursors: Map<string, number>;
  disconnectedAt: number;
}

/** What a returning socket missed, channel by channel, oldest first. */
export interface RecoveryPlan {
  session: PersistedSession;
  /** The channels it follows again, with the messages after its cursor in each. */
  replays: Array<{ channel: string; messages: readonly PushMessage[] }>;
  /** Its cursors before the replay. */
  cursors: Map<string, number>;
}

/** The sessions of sockets that were cut, by private id (pid). */
export class SessionStore {
  private readonly sessions = new Map<string, PersistedSession>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(readonly maxDisconnectionDuration: number) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, Math.max(1000, maxDisconnectionDuration)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  persist(session: PersistedSession): void {
    this.sessions.set(session.pid, session);
  }

  /**
   * Takes the session of `pid` in this namespace if the log still holds
   * everything it missed; null otherwise (the client then starts afresh).
   */
  recover(pid: unknown, offset: unknown, namespace: string, log: ChannelAdapter): RecoveryPlan | null {
    if (typeof pid !== 'string') return null;
    const session = this.sessions.get(pid);
    if (session === undefined || session.namespace !== namespace) return null;
    if (session.disconnectedAt + this.maxDisconnectionDuration < Date.now()) {
      this.sessions.delete(pid);
      return null;
    }
    const cursors = new Map(session.joinCursors);
    if (offset !== undefined) {
      const reported = typeof offset === 'string' ? parseOffset(offset) : null;
      if (reported === null) return null;
      for (const [channel, id] of reported) if (cursors.has(channel)) cursors.set(channel, id);
    }
    const replays: RecoveryPlan['replays'] = [];
    for (const [channel, since] of cursors) {
      const read = log.readAfter(channel, since);
      // Messages it missed are gone (or a shared log cannot say at once): it cannot be told
      // everything, so it is not told it recovered.
      if (read === null || read.gap) return null;
      replays.push({ channel, messages: read.messages });
    }
    this.sessions.delete(pid);
    return { session, replays, cursors };
  }

  private sweep(): void {
    const threshold = Date.now() - this.maxDisconnectionDuration;
    for (const [pid, session] of this.sessions) if (session.disconnectedAt < threshold) this.sessions.delete(pid);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.sessions.clear();
  }
}
