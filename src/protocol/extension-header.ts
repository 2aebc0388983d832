/**
 * Sec-WebSocket-Extensions (RFC 6455 §9.1), parsed and written. Pure.
 *
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 *
 * A quoted value must still be a token once unquoted (§9.1), so
 * `client_max_window_bits="10"` and `client_max_window_bits=10` are the same.
 * Offers and parameters keep their order and duplicates: deciding what a
 * duplicate means is the extension's business, not the parser's.
 */

/** One parameter; `value` is null when it had none (`; server_no_context_takeover`). */
export interface ExtensionParam {
  name: string;
  value: string | null;
}

/** One element of the list: an extension name with its parameters (one offer, or the answer). */
export interface ExtensionOffer {
  name: string;
  params: ExtensionParam[];
}

// RFC 9110 §5.6.2 tchar, as a lookup table.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTchar(s.charCodeAt(i))) return false;
  return true;
}

/**
 * Parses a header value into its list of extensions. Names are lower-cased
 * (tokens compare case-insensitively); values are kept as sent. Empty list
 * elements (`a, , b`) are skipped, as RFC 9110 §5.6.1 lets a recipient do.
 * Throws SyntaxError on anything the grammar does not allow.
 */
export function parseExtensions(header: string): ExtensionOffer[] {
  const out: ExtensionOffer[] = [];
  const len = header.length;
  let i = 0;

  const skipWs = () => {
    while (i < len && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++;
  };
  const readToken = (what: string): string => {
    const start = i;
    while (i < len && isTchar(header.charCodeAt(i))) i++;
    if (i === start) throw new SyntaxError(`expected ${what} at offset ${start} of Sec-WebSocket-Extensions`);
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    const start = i;
    i++; // opening quote
    let value = '';
    while (i < len) {
      const c = header.charCodeAt(i);
      if (c === 0x22) {
        i++;
        if (!isToken(value)) throw new SyntaxError(`quoted value at offset ${start} is not a token once unquoted`);
        return value;
      }
      if (c === 0x5c) { // quoted-pair
        i++;
        if (i === len) break;
      }
      value += header[i];
      i++;
    }
    throw new SyntaxError(`unterminated quoted string at offset ${start}`);
  };

  for (;;) {
    skipWs();
    if (i === len) break;
    if (header.charCodeAt(i) === 0x2c) { // empty element
      i++;
      continue;
    }
    const ext: ExtensionOffer = { name: readToken('an extension name').toLowerCase(), params: [] };
    skipWs();
    while (i < len && header.charCodeAt(i) === 0x3b) { // ';'
      i++;
      skipWs();
      const name = readToken('a parameter name').toLowerCase();
      let value: string | null = null;
      skipWs();
      if (i < len && header.charCodeAt(i) === 0x3d) { // '='
        i++;
        skipWs();
        value = i < len && header.charCodeAt(i) === 0x22 ? readQuoted() : readToken(`a value for ${name}`);
        skipWs();
      }
      ext.params.push({ name, value });
    }
    out.push(ext);
    if (i === len) break;
    if (header.charCodeAt(i) !== 0x2c) {
      throw new SyntaxError(`unexpected ${JSON.stringify(header[i])} at offset ${i} of Sec-WebSocket-Extensions`);
    }
    i++;
  }
  return out;
}

/** Writes extensions back as a header value; values that are not tokens are quoted. */
export function formatExtensions(list: readonly ExtensionOffer[]): string {
  return list.map((ext) => {
    let s = ext.name;
    for (const p of ext.params) {
      s += '; ' + p.name;
      if (p.value !== null) {
        s += '=' + (isToken(p.value) ? p.value : '"' + p.value.replace(/["\\]/g, '\\$&') + '"');
      }
    }
    return s;
  }).join(', ');
}
