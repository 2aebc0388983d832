import { isUtf8 as nativeIsUtf8 } from 'node:buffer';

/**
 * UTF-8 validation (RFC 3629, as RFC 6455 §8.1 requires): no overlongs, no
 * surrogates, nothing above U+10FFFF. Whole buffers go to Node's native
 * validator; short ones stay in JS, where the call overhead would dominate.
 */
export function isValidUtf8(buf: Uint8Array): boolean {
  const len = buf.length;
  if (len < 32) {
    let i = 0;
    while (i < len && buf[i]! < 0x80) i++;
    if (i === len) return true;
    return validateSlow(buf, i, len);
  }
  return nativeIsUtf8(buf);
}

function validateSlow(buf: Uint8Array, start: number, end: number): boolean {
  // One shared validator: this runs to completion synchronously, so reuse is safe and allocates nothing.
  const v = shared ??= new Utf8Validator();
  v.reset();
  return v.writeBytes(buf, start, end) && v.need === 0;
}
let shared: Utf8Validator | null = null;

/** Number of bytes of a sequence starting with lead byte b, or 0 if b cannot start one. */
function sequenceLength(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/**
 * Incremental validator for a message that arrives in pieces (fragments, TCP
 * reads). write() returns false as soon as a byte makes the input invalid, so
 * a connection can fail fast; end() also rejects a truncated last sequence.
 */
export class Utf8Validator {
  /** Continuation bytes still expected. */
  need = 0;
  /** Bounds for the next continuation byte (tighter after E0, ED, F0, F4). */
  private lower = 0x80;
  private upper = 0xbf;

  reset(): void {
    this.need = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }

  /** Feeds bytes; false when invalid. After false the validator must be reset. */
  write(chunk: Uint8Array): boolean {
    const len = chunk.length;
    let i = 0;
    // Finish the sequence left open by the previous piece.
    while (this.need > 0 && i < len) {
      const b = chunk[i++]!;
      if (b < this.lower || b > this.upper) return false;
      this.lower = 0x80;
      this.upper = 0xbf;
      this.need--;
    }
    if (i === len) return true;
    // Split off a trailing incomplete sequence; the complete middle goes to the fast validator.
    let tail = len;
    for (let k = 1; k <= 3 && len - k >= i; k++) {
      const b = chunk[len - k]!;
      if ((b & 0xc0) === 0x80) continue;
      const n = sequenceLength(b);
      if (n > k) tail = len - k;
      break;
    }
    if (tail > i) {
      const middle = i === 0 && tail === len ? chunk : chunk.subarray(i, tail);
      if (!isValidUtf8(middle)) return false;
    }
    return this.writeBytes(chunk, tail, len);
  }

  /** Byte-at-a-time DFA over chunk[start..end). */
  writeBytes(chunk: Uint8Array, start: number, end: number): boolean {
    for (let i = start; i < end; i++) {
      const b = chunk[i]!;
      if (this.need > 0) {
        if (b < this.lower || b > this.upper) return false;
        this.lower = 0x80;
        this.upper = 0xbf;
        this.need--;
        continue;
      }
      if (b < 0x80) continue;
      const n = sequenceLength(b);
      if (n === 0) return false;
      this.need = n - 1;
      if (b === 0xe0) this.lower = 0xa0; // overlong 3-byte
      else if (b === 0xed) this.upper = 0x9f; // surrogates
      else if (b === 0xf0) this.lower = 0x90; // overlong 4-byte
      else if (b === 0xf4) this.upper = 0x8f; // above U+10FFFF
    }
    return true;
  }

  /** True if the input so far ended on a sequence boundary. */
  end(): boolean {
    return this.need === 0;
  }
}
