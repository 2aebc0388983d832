import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { EngineErrorCode } from '../protocol/engine-io-packet.js';
import { WebSocketServer } from '../websocket/server.js';
import { WriteBatch } from '../http/write-batch.js';
import type { WebSocket } from '../websocket/websocket.js';
import { answerEngineError, refuseUpgrade } from './engine-answers.js';
import { EngineSession, type EngineSettings, type SessionHost } from './engine-session.js';
import { PollingTransport } from './polling-transport.js';
import type { TransportName } from './transport.js';
import { WebSocketTransport } from './websocket-transport.js';

export type EngineOptions = Partial<EngineSettings>;

/** engine.io's defaults. */
export const ENGINE_DEFAULTS: EngineSettings = {
  pingInterval: 25_000,
  pingTimeout: 20_000,
  upgradeTimeout: 10_000,
  maxHttpBufferSize: 1e6,
  maxBufferedBytes: 16 * 1024 * 1024,
  coalesceWrites: true,
  transports: ['polling', 'websocket'],
  allowUpgrades: true,
};

/** 15 random bytes, 20 characters of base64url: a session id nobody can guess. */
export function randomId(): string {
  return randomBytes(15).toString('base64url');
}

const TRANSPORTS: ReadonlySet<string> = new Set<TransportName>(['polling', 'websocket']);

/**
 * Engine.IO v4 (docs/PROTOCOL.md §5.1) on one path: the handshake, the
 * requests of polling sessions, WebSocket connections and upgrades, and the
 * error answers `{"code","message"}` for everything else. The layer above
 * (Socket.IO) takes each new session from `onConnection`.
 */
export class EngineServer implements SessionHost {
  readonly settings: EngineSettings;
  /** Called with each new session, after its open packet is queued. */
  onConnection: ((session: EngineSession) => void) | null = null;
  private readonly sessions = new Map<string, EngineSession>();
  private readonly wss: WebSocketServer;
  private readonly writes: WriteBatch | null;
  private closed = false;

  constructor(options: EngineOptions = {}) {
    const settings = { ...ENGINE_DEFAULTS };
    for (const [key, value] of Object.entries(options)) {
      if (value !== undefined && key in settings) (settings as Record<string, unknown>)[key] = value;
    }
    for (const key of ['pingInterval', 'pingTimeout', 'upgradeTimeout', 'maxHttpBufferSize', 'maxBufferedBytes'] as const) {
      const value = settings[key];
      if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${key} must be a positive integer`);
    }
    for (const name of settings.transports) {
      if (!TRANSPORTS.has(name)) throw new RangeError(`unknown transport ${JSON.stringify(name)}`);
    }
    this.settings = settings;
    this.writes = settings.coalesceWrites ? new WriteBatch() : null;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: settings.maxHttpBufferSize, clientTracking: false });
  }

  get clientsCount(): number {
    return this.sessions.size;
  }

  /** The open session with this id. */
  session(id: string): EngineSession | undefined {
    return this.sessions.get(id);
  }

  /** A request to the Engine.IO path (any method). */
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const query = url.searchParams;
    const transport = query.get('transport');
    if (transport === null || !this.settings.transports.includes(transport as TransportName)) {
      return answerEngineError(res, EngineErrorCode.UnknownTransport);
    }
    const sid = query.get('sid');
    if (sid !== null) {
      const session = this.sessions.get(sid);
      if (session === undefined) return answerEngineError(res, EngineErrorCode.UnknownSid);
      // After an upgrade the session's polls are refused: its transport is the WebSocket now.
      if (transport !== 'polling' || session.transport.name !== 'polling' || query.get('EIO') !== '4') {
        return answerEngineError(res, EngineErrorCode.BadRequest);
      }
      (session.transport as PollingTransport).onRequest(req, res);
      return;
    }
    if (req.method !== 'GET') return answerEngineError(res, EngineErrorCode.BadHandshakeMethod);
    // A WebSocket handshake must come as an upgrade.
    if (transport !== 'polling') return answerEngineError(res, EngineErrorCode.BadRequest);
    if (query.get('EIO') !== '4') return answerEngineError(res, EngineErrorCode.UnsupportedProtocolVersion);
    if (this.closed) return answerEngineError(res, EngineErrorCode.BadRequest);
    const polling = new PollingTransport(NO_OWNER, this.settings.maxHttpBufferSize);
    this.startSession(req, polling);
    polling.onRequest(req, res);
  }

  /** An upgrade to the Engine.IO path: a WebSocket session, or the upgrade of a polling one. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    let query: URLSearchParams;
    try {
      query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    } catch {
      return refuseUpgrade(socket, EngineErrorCode.BadRequest);
    }
    const transport = query.get('transport');
    if (transport === null || !this.settings.transports.includes(transport as TransportName)) {
      return refuseUpgrade(socket, EngineErrorCode.UnknownTransport);
    }
    if (transport !== 'websocket') return refuseUpgrade(socket, EngineErrorCode.BadRequest);
    const sid = query.get('sid');
    if (sid !== null) {
      const session = this.sessions.get(sid);
      if (session === undefined) return refuseUpgrade(socket, EngineErrorCode.UnknownSid);
      if (query.get('EIO') !== '4' || session.transport.name !== 'polling' || session.upgrading || !this.settings.allowUpgrades) {
        return refuseUpgrade(socket, EngineErrorCode.BadRequest);
      }
      return this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.coalesceWrites(this.writes);
        const transport = new WebSocketTransport(ws, NO_OWNER);
        if (session.readyState !== 'open') return transport.close('close');
        session.startUpgrade(transport);
      });
    }
    if (query.get('EIO') !== '4') return refuseUpgrade(socket, EngineErrorCode.UnsupportedProtocolVersion);
    if (this.closed) return refuseUpgrade(socket, EngineErrorCode.BadRequest);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.coalesceWrites(this.writes);
      this.startSession(req, new WebSocketTransport(ws, NO_OWNER));
    });
  }

  private startSession(req: http.IncomingMessage, transport: PollingTransport | WebSocketTransport): void {
    let id = randomId();
    while (this.sessions.has(id)) id = randomId();
    const session = new EngineSession(this, id, req, transport);
    this.sessions.set(id, session);
    session.open();
    this.onConnection?.(session);
  }

  forget(session: EngineSession): void {
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
  }

  /** Stops accepting and closes every session (WebSockets with 1001, held polls with a close packet). */
  close(): void {
    this.closed = true;
    for (const session of [...this.sessions.values()]) session.abort('server shutting down', 'shutdown');
  }
}

/** A transport's owner until its session takes it. */
const NO_OWNER = {
  onTransportPacket(): void {},
  onTransportClose(): void {},
  onTransportWritable(): void {},
};
