import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { checkAcceptHeader, parseSubprotocols } from '../protocol/handshake.js';
import { DEFAULT_MAX_MESSAGE } from '../protocol/constants.js';
import { attachSocket, failHandshake, setHandshakeAbort, WebSocket } from './websocket.js';
import { acceptServerDeflate, clientOfferHeader, deflateSettings, type PerMessageDeflateSetting } from './deflate-negotiation.js';
import type { DeflateOptions } from '../protocol/deflate-params.js';

export interface ClientOptions {
  /** Subprotocols to offer, in order of preference: unique tokens, else connect() throws a SyntaxError. */
  protocols?: string[];
  /** Extra request headers (Origin, Cookie, ...). */
  headers?: Record<string, string>;
  maxPayload?: number;
  /** Give up if the server has not answered the handshake in this many ms. */
  handshakeTimeout?: number;
  closeTimeout?: number;
  /** Offer permessage-deflate (RFC 7692): true for the defaults, or settings. Off by default. */
  perMessageDeflate?: boolean | DeflateOptions;
}

/**
 * Opens a client WebSocket to a ws:// or wss:// URL (RFC 6455 §4.1). The
 * returned object is CONNECTING; it emits 'open' once the server's answer
 * checks out, or 'error' then 'close' (1006) if it does not.
 */
export function connect(url: string | URL, options: ClientOptions = {}): WebSocket {
  const target = new URL(url);
  if (target.protocol !== 'ws:' && target.protocol !== 'wss:') throw new SyntaxError(`not a WebSocket URL: ${target.href}`);
  const secure = target.protocol === 'wss:';
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_MESSAGE;
  const ws = new WebSocket({ isServer: false, maxPayload, closeTimeout: options.closeTimeout ?? 5000, url: target.href });
  const key = randomBytes(16).toString('base64');
  const headers: Record<string, string> = {
    ...options.headers,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  };
  const deflate = deflateSettings(options.perMessageDeflate as PerMessageDeflateSetting);
  if (deflate !== null) headers['Sec-WebSocket-Extensions'] = clientOfferHeader(deflate);
  const offered = options.protocols ?? [];
  // §4.1: unique tokens, or the server would answer 400 (ws throws here too).
  const checked = parseSubprotocols(offered.join(','));
  if (!checked.ok || checked.protocols.size !== offered.length) {
    throw new SyntaxError(checked.ok ? `subprotocols must be unique, non-empty tokens: ${JSON.stringify(offered)}` : checked.message);
  }
  if (offered.length > 0) headers['Sec-WebSocket-Protocol'] = offered.join(', ');

  const request = (secure ? https : http).request({
    host: target.hostname.replace(/^\[|\]$/g, ''),
    port: target.port || (secure ? 443 : 80),
    path: target.pathname + target.search,
    headers,
    // A connection of its own: a pooling agent (Node's global one keeps sockets
    // alive) would keep a request dropped while connecting as an idle socket.
    agent: false,
  });
  // close() or terminate() while connecting, or a failure below: the request is dropped.
  setHandshakeAbort(ws, () => request.destroy());
  const fail = (message: string) => failHandshake(ws, message);
  if (options.handshakeTimeout) {
    request.setTimeout(options.handshakeTimeout, () => fail('opening handshake timed out'));
  }
  request.on('error', (err) => fail(err.message));
  request.on('response', (res) => {
    res.resume();
    fail(`unexpected server response: ${res.statusCode}`);
  });
  request.on('upgrade', (res, socket, head) => {
    if (ws.readyState !== WebSocket.CONNECTING) return void socket.destroy();
    const accept = res.headers['sec-websocket-accept'];
    if (String(res.headers.upgrade).toLowerCase() !== 'websocket') return (socket.destroy(), fail('invalid Upgrade header'));
    if (!checkAcceptHeader(key, Array.isArray(accept) ? accept[0] : accept)) return (socket.destroy(), fail('invalid Sec-WebSocket-Accept'));
    const protocol = (res.headers['sec-websocket-protocol'] as string | undefined) ?? '';
    if (protocol && !offered.includes(protocol)) return (socket.destroy(), fail('server chose a subprotocol we did not offer'));
    if (!protocol && offered.length > 0) return (socket.destroy(), fail('server chose no subprotocol'));
    // §9.1: an extension we did not offer must fail the connection.
    const answer = res.headers['sec-websocket-extensions'];
    let codec = null;
    if (answer !== undefined) {
      if (deflate === null) return (socket.destroy(), fail('server answered with an extension we did not offer'));
      const accepted = acceptServerDeflate(Array.isArray(answer) ? answer.join(', ') : answer, deflate, maxPayload);
      if (accepted instanceof Error) return (socket.destroy(), fail(`invalid Sec-WebSocket-Extensions answer: ${accepted.message}`));
      codec = accepted;
    }
    attachSocket(ws, socket, head, protocol, answer === undefined ? '' : String(answer), codec);
  });
  request.end();
  return ws;
}
