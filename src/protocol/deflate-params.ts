import type { ExtensionOffer, ExtensionParam } from './extension-header.js';

/**
 * permessage-deflate negotiation (RFC 7692 §5 and §7.1), pure: offers in,
 * the agreed parameters and the answer out. No zlib here.
 */

export const EXTENSION_NAME = 'permessage-deflate';

/** What both ends agreed on; window bits are 15 when nobody limited them. */
export interface DeflateParams {
  /** The server resets its compression context after each message it sends. */
  serverNoContextTakeover: boolean;
  /** The client resets its compression context after each message it sends. */
  clientNoContextTakeover: boolean;
  /** LZ77 window (log2) the server compresses with, hence the client inflates with. */
  serverMaxWindowBits: number;
  /** LZ77 window (log2) the client compresses with, hence the server inflates with. */
  clientMaxWindowBits: number;
}

/**
 * Policy of one end. On a server: what it asks of itself and of clients.
 * On a client: what it offers. Missing fields mean "no limit, keep context".
 */
export interface DeflateOptions {
  /** Messages shorter than this many bytes are sent uncompressed (default 1024). */
  threshold?: number;
  /** zlib compression level, 0..9 (default: zlib's default, 6). */
  level?: number;
  /** zlib memLevel, 1..9 (default 8). */
  memLevel?: number;
  /** Server: always reset the compression context after each message (answered even when not asked). Client: ask for it. */
  serverNoContextTakeover?: boolean;
  /** Server: require clients to reset theirs. Client: announce that it resets its own. */
  clientNoContextTakeover?: boolean;
  /** Server: largest window it compresses with (8..15). Client: ask the server to stay within it. */
  serverMaxWindowBits?: number;
  /** Server: largest window it accepts from clients that allow a limit. Client: largest window it compresses with. */
  clientMaxWindowBits?: number;
}

export const DEFAULT_THRESHOLD = 1024;

/** A parsed, checked offer: which parameters it had, with their values. */
interface OfferParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** null: absent. */
  serverMaxWindowBits: number | null;
  /** null: absent; true: present with no value (the client allows a limit). */
  clientMaxWindowBits: number | true | null;
}

/** §7.1.2.1: "8" to "15", decimal, no leading zeros (so "08" and "+9" are invalid). */
const WINDOW_BITS = /^(?:[89]|1[0-5])$/;

function windowBits(value: string | null): number | null {
  return value !== null && WINDOW_BITS.test(value) ? Number(value) : null;
}

/**
 * Reads the parameters of one permessage-deflate element. Returns a string
 * saying what is wrong when the element must be declined (§7.1: an unknown
 * parameter, a bad value, a parameter given twice).
 */
function readParams(params: readonly ExtensionParam[], isAnswer: boolean): OfferParams | string {
  const out: OfferParams = {
    serverNoContextTakeover: false, clientNoContextTakeover: false,
    serverMaxWindowBits: null, clientMaxWindowBits: null,
  };
  const seen = new Set<string>();
  for (const { name, value } of params) {
    if (seen.has(name)) return `parameter ${name} given twice`;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== null) return `parameter ${name} takes no value`;
        if (name === 'server_no_context_takeover') out.serverNoContextTakeover = true;
        else out.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = windowBits(value);
        if (bits === null) return `invalid server_max_window_bits ${JSON.stringify(value)}`;
        out.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        // §7.1.2.2: valueless in an offer ("you may limit me"), never in an answer.
        if (value === null && !isAnswer) {
          out.clientMaxWindowBits = true;
          break;
        }
        const bits = windowBits(value);
        if (bits === null) return `invalid client_max_window_bits ${JSON.stringify(value)}`;
        out.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter ${name}`;
    }
  }
  return out;
}

function checkBits(name: string, bits: number | undefined): number {
  if (bits === undefined) return 15;
  if (!Number.isInteger(bits) || bits < 8 || bits > 15) throw new RangeError(`${name} must be an integer from 8 to 15`);
  return bits;
}

/** Checks an options object once, at construction, so bad settings fail early. */
export function validateDeflateOptions(options: DeflateOptions): void {
  checkBits('serverMaxWindowBits', options.serverMaxWindowBits);
  checkBits('clientMaxWindowBits', options.clientMaxWindowBits);
  if (options.level !== undefined && (!Number.isInteger(options.level) || options.level < -1 || options.level > 9)) {
    throw new RangeError('level must be an integer from -1 to 9');
  }
  if (options.memLevel !== undefined && (!Number.isInteger(options.memLevel) || options.memLevel < 1 || options.memLevel > 9)) {
    throw new RangeError('memLevel must be an integer from 1 to 9');
  }
  if (options.threshold !== undefined && !(options.threshold >= 0)) throw new RangeError('threshold must be >= 0');
}

export interface ServerAgreement {
  params: DeflateParams;
  /** The element for the 101's Sec-WebSocket-Extensions. */
  answer: ExtensionOffer;
  /** Offers (1-based positions) declined before this one, with why: for logs and tests. */
  declined: string[];
}

/**
 * Server side (§5.1, §7.1): walks the client's permessage-deflate offers in
 * order and accepts the first one it can, answering with an acceptable
 * subset. Returns null if none can be accepted (the connection then goes on
 * without compression). Other extensions in the list are ignored.
 */
export function negotiateAsServer(offers: readonly ExtensionOffer[], options: DeflateOptions = {}): ServerAgreement | null {
  const ownBits = checkBits('serverMaxWindowBits', options.serverMaxWindowBits);
  const clientLimit = checkBits('clientMaxWindowBits', options.clientMaxWindowBits);
  const declined: string[] = [];
  let position = 0;
  for (const offer of offers) {
    if (offer.name !== EXTENSION_NAME) continue;
    position++;
    const p = readParams(offer.params, false);
    if (typeof p === 'string') {
      declined.push(`offer ${position}: ${p}`);
      continue;
    }
    const answer: ExtensionOffer = { name: EXTENSION_NAME, params: [] };
    // §7.1.1.1: if the client asks, the server must reset; it may also do so unasked.
    const serverNoContext = p.serverNoContextTakeover || options.serverNoContextTakeover === true;
    if (serverNoContext) answer.params.push({ name: 'server_no_context_takeover', value: null });
    // §7.1.1.2: the server may always tell the client to reset; echo the client's own hint too.
    const clientNoContext = p.clientNoContextTakeover || options.clientNoContextTakeover === true;
    if (clientNoContext) answer.params.push({ name: 'client_no_context_takeover', value: null });
    // §7.1.2.1: answer with the same or a smaller window than asked; state ours if it is smaller than 15.
    const serverBits = Math.min(ownBits, p.serverMaxWindowBits ?? 15);
    if (p.serverMaxWindowBits !== null || serverBits < 15) {
      answer.params.push({ name: 'server_max_window_bits', value: String(serverBits) });
    }
    // §7.1.2.2: a limit on the client only if it offered the parameter; then at most its value.
    let clientBits = 15;
    if (p.clientMaxWindowBits !== null) {
      clientBits = Math.min(clientLimit, p.clientMaxWindowBits === true ? 15 : p.clientMaxWindowBits);
      if (clientBits < 15 || p.clientMaxWindowBits !== true) {
        answer.params.push({ name: 'client_max_window_bits', value: String(clientBits) });
      }
    }
    return {
      params: {
        serverNoContextTakeover: serverNoContext,
        clientNoContextTakeover: clientNoContext,
        serverMaxWindowBits: serverBits,
        clientMaxWindowBits: clientBits,
      },
      answer,
      declined,
    };
  }
  return null;
}

/** Client side: the single offer it sends (§5.1). Like browsers, it lets the server limit its window. */
export function clientOffer(options: DeflateOptions = {}): ExtensionOffer {
  const params: ExtensionParam[] = [];
  if (options.serverNoContextTakeover) params.push({ name: 'server_no_context_takeover', value: null });
  if (options.clientNoContextTakeover) params.push({ name: 'client_no_context_takeover', value: null });
  if (options.serverMaxWindowBits !== undefined) {
    params.push({ name: 'server_max_window_bits', value: String(checkBits('serverMaxWindowBits', options.serverMaxWindowBits)) });
  }
  params.push({
    name: 'client_max_window_bits',
    value: options.clientMaxWindowBits === undefined ? null : String(checkBits('clientMaxWindowBits', options.clientMaxWindowBits)),
  });
  return { name: EXTENSION_NAME, params };
}

/**
 * Client side (§5.2, §7.1): checks the server's answer against what
 * clientOffer(options) offered. Returns the agreed parameters, or throws
 * an Error saying why the connection must be failed.
 */
export function acceptAsClient(answer: readonly ExtensionOffer[], options: DeflateOptions = {}): DeflateParams {
  if (answer.length !== 1) throw new Error(`expected one extension in the answer, got ${answer.length}`);
  const element = answer[0]!;
  if (element.name !== EXTENSION_NAME) throw new Error(`server answered with extension ${element.name}, which was not offered`);
  const p = readParams(element.params, true);
  if (typeof p === 'string') throw new Error(`invalid permessage-deflate answer: ${p}`);
  if (options.serverNoContextTakeover && !p.serverNoContextTakeover) {
    throw new Error('server did not accept server_no_context_takeover');
  }
  const askedServerBits = options.serverMaxWindowBits;
  if (askedServerBits !== undefined) {
    // §7.1.2.1: the server must answer the parameter, with the same or a smaller value.
    if (p.serverMaxWindowBits === null) throw new Error('server did not answer server_max_window_bits');
    if (p.serverMaxWindowBits > askedServerBits) throw new Error('server_max_window_bits above the value offered');
  }
  const ownBits = checkBits('clientMaxWindowBits', options.clientMaxWindowBits);
  if (p.clientMaxWindowBits !== null && (p.clientMaxWindowBits as number) > ownBits) {
    throw new Error('client_max_window_bits above the value offered');
  }
  return {
    serverNoContextTakeover: p.serverNoContextTakeover,
    clientNoContextTakeover: p.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: p.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: p.clientMaxWindowBits === null ? ownBits : (p.clientMaxWindowBits as number),
  };
}
