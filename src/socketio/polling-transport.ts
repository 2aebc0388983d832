import type http from 'node:http';
import {
  decodePayload, EngineErrorCode, EngineParseError, EnginePacketType, encodePayload, encodeTextPacket, type EnginePacket,
} from '../protocol/engine-io-packet.js';
import { isValidUtf8 } from '../protocol/utf8.js';
import { HttpError, leaveBodyUnread, readBody } from '../http/respond.js';
import { answerEngineError } from './engine-answers.js';
import type { OutgoingPacket } from './outgoing-packet.js';
import type { Transport, TransportEnd, TransportOwner } from './transport.js';

const CLOSE_PACKET = encodeTextPacket(EnginePacketType.Close);
const NOOP_PACKET = encodeTextPacket(EnginePacketType.Noop);

/**
 * Engine.IO over HTTP long-polling (docs/PROTOCOL.md §5.1): the client holds
 * one GET that the server answers when it has packets, and sends its own
 * packets by POST; both bodies are packets joined by the record separator.
 * A second GET or POST while one is open is an error that closes the session,
 * as is a body that does not parse, or one over maxHttpBufferSize (413).
 */
export class PollingTransport implements Transport {
  readonly name = 'polling';
  owner: TransportOwner;
  /** The held GET, answered by the next send(). */
  private held: http.ServerResponse | null = null;
  private posting = false;
  private closed = false;
  /** Set once the session is upgraded or closing: every GET gets this at once. */
  private answerNow: string | null = null;
  private readonly onHeldClose = (): void => {
    if (this.held === null) return;
    this.held = null;
    if (!this.closed) this.owner.onTransportClose(this, 'transport error');
  };

  constructor(owner: TransportOwner, private readonly maxHttpBufferSize: number) {
    this.owner = owner;
  }

  get writable(): boolean {
    return this.held !== null && !this.closed;
  }

  get bufferedAmount(): number {
    return 0;
  }

  /** A request with this session's sid. */
  onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method === 'GET') this.onPoll(res);
    else if (req.method === 'POST') this.onPost(req, res);
    else answerEngineError(res, EngineErrorCode.BadRequest);
  }

  /**
   * During an upgrade a held GET is answered with a noop at once, so the
   * client's polling pauses cleanly; so is every GET after it.
   */
  pause(): void {
    this.answerNow = NOOP_PACKET;
    if (this.held !== null) this.respond(NOOP_PACKET);
  }

  /** The upgrade failed: polls are held again. */
  resume(): void {
    if (!this.closed) this.answerNow = null;
  }

  private onPoll(res: http.ServerResponse): void {
    if (this.closed && this.answerNow === null) return answerEngineError(res, EngineErrorCode.BadRequest);
    if (this.answerNow !== null) return void writeBody(res, this.answerNow);
    if (this.held !== null) {
      // The suites accept 400 here (engine.io answers 500).
      answerEngineError(res, EngineErrorCode.BadRequest);
      this.owner.onTransportClose(this, 'transport error');
      return;
    }
    this.held = res;
    res.once('close', this.onHeldClose);
    this.owner.onTransportWritable(this);
  }

  private onPost(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.closed) return answerEngineError(res, EngineErrorCode.BadRequest);
    if (this.posting) {
      answerEngineError(res, EngineErrorCode.BadRequest);
      this.owner.onTransportClose(this, 'transport error');
      return;
    }
    // v4 sends binary as base64 inside the text body; a binary body is v3's format.
    if (req.headers['content-type'] === 'application/octet-stream') {
      answerEngineError(res, EngineErrorCode.BadRequest);
      this.owner.onTransportClose(this, 'transport error');
      return;
    }
    this.posting = true;
    // Past maxHttpBufferSize: 413 as soon as the excess arrives or is announced, and the rest is not read.
    readBody(req, this.maxHttpBufferSize).then((body) => {
      this.posting = false;
      this.onBody(body, res);
    }, (err: unknown) => {
      this.posting = false;
      if (err instanceof HttpError && err.status === 413) return this.tooLarge(res);
      if (!this.closed) this.owner.onTransportClose(this, 'transport error');
    });
  }

  private tooLarge(res: http.ServerResponse): void {
    if (!res.headersSent) {
      const body = '{"code":3,"message":"Payload too large"}';
      leaveBodyUnread(res);
      res.writeHead(413, { 'Content-Type': 'application/json', 'Content-Length': body.length, Connection: 'close' });
      res.end(body);
    }
    if (!this.closed) this.owner.onTransportClose(this, 'transport error');
  }

  private onBody(body: Buffer, res: http.ServerResponse): void {
    if (this.closed) return answerEngineError(res, EngineErrorCode.BadRequest);
    let packets: EnginePacket[];
    try {
      if (!isValidUtf8(body)) throw new EngineParseError('body is not UTF-8');
      packets = decodePayload(body.toString('utf8'));
    } catch (err) {
      if (!(err instanceof EngineParseError)) throw err;
      answerEngineError(res, EngineErrorCode.BadRequest);
      this.owner.onTransportClose(this, 'parse error');
      return;
    }
    writeBody(res, 'ok', 'text/html');
    for (let i = 0; i < packets.length && !this.closed; i++) this.owner.onTransportPacket(this, packets[i]!);
  }

  private dropHeld(): void {
    if (this.held === null) return;
    const res = this.held;
    this.held = null;
    res.off('close', this.onHeldClose);
    res.destroy();
  }

  send(packets: readonly OutgoingPacket[]): void {
    if (this.held === null || this.closed) return;
    const parts = new Array<string>(packets.length);
    for (let i = 0; i < packets.length; i++) parts[i] = packets[i]!.pollingText;
    this.respond(encodePayload(parts));
  }

  sendOne(packet: OutgoingPacket): void {
    this.send([packet]);
  }

  private respond(body: string): void {
    const res = this.held!;
    this.held = null;
    res.off('close', this.onHeldClose);
    writeBody(res, body);
  }

  close(end: TransportEnd): void {
    if (this.closed) return;
    this.closed = true;
    if (end === 'discard') return this.dropHeld();
    const last = end === 'noop' ? NOOP_PACKET : CLOSE_PACKET;
    if (this.held !== null) this.respond(last);
  }
}

function writeBody(res: http.ServerResponse, body: string, type = 'text/plain; charset=UTF-8'): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}
