import {
  acceptAsClient, clientOffer, negotiateAsServer, validateDeflateOptions, type DeflateOptions,
} from '../protocol/deflate-params.js';
import { formatExtensions, parseExtensions } from '../protocol/extension-header.js';
import { PerMessageDeflate } from './deflate-codec.js';

/**
 * permessage-deflate in the opening handshake (RFC 7692 §5): the option of
 * the server and the client, and the header exchange that yields a
 * connection's codec. The rules themselves are pure, in protocol/deflate-params.ts.
 */

/** `perMessageDeflate` option of the server and the client: true for the defaults. */
export type PerMessageDeflateSetting = boolean | DeflateOptions | undefined;

/** Resolves the option to settings (null when off), checking them so bad ones fail at construction. */
export function deflateSettings(setting: PerMessageDeflateSetting): DeflateOptions | null {
  if (!setting) return null;
  const options = setting === true ? {} : setting;
  validateDeflateOptions(options);
  return options;
}

export type ServerNegotiation =
  | { ok: true; extensions: string; deflate: PerMessageDeflate | null }
  | { ok: false; message: string };

/**
 * Server side of the handshake: reads the client's Sec-WebSocket-Extensions
 * and, when an offer is acceptable, makes the codec and the answer for the
 * 101. A header that does not parse is a bad request (400, as ws does).
 */
export function negotiateServerDeflate(header: string | string[] | undefined, settings: DeflateOptions | null, maxPayload: number): ServerNegotiation {
  if (settings === null || header === undefined) return { ok: true, extensions: '', deflate: null };
  let offers;
  try {
    offers = parseExtensions(Array.isArray(header) ? header.join(', ') : header);
  } catch (err) {
    return { ok: false, message: `invalid Sec-WebSocket-Extensions: ${(err as Error).message}` };
  }
  const agreement = negotiateAsServer(offers, settings);
  if (agreement === null) return { ok: true, extensions: '', deflate: null };
  return {
    ok: true,
    extensions: formatExtensions([agreement.answer]),
    deflate: new PerMessageDeflate(agreement.params, { ...settings, isServer: true, maxPayload }),
  };
}

/** Client side: the Sec-WebSocket-Extensions value to offer. */
export function clientOfferHeader(settings: DeflateOptions): string {
  return formatExtensions([clientOffer(settings)]);
}

/** Client side: checks the server's answer; the codec, or an Error to fail the connection with. */
export function acceptServerDeflate(answer: string, settings: DeflateOptions, maxPayload: number): PerMessageDeflate | Error {
  try {
    const params = acceptAsClient(parseExtensions(answer), settings);
    return new PerMessageDeflate(params, { ...settings, isServer: false, maxPayload });
  } catch (err) {
    return err as Error;
  }
}
