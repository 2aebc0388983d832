import { endianness } from 'node:os';
import { keyWord } from './mask-key.js';

/**
 * The pure-JS masking kernel (RFC 6455 §5.3): a 32-bit word at a time over
 * the 4-byte-aligned middle of the buffer, whatever its byteOffset; bytes at
 * the ends. mask.ts decides when it runs.
 *
 * Two functions rather than one with an `ascii` flag: the single one measured
 * ~5 ns slower a call (V8 no longer inlines it), 10% of a 125-byte frame.
 */

const LITTLE_ENDIAN = endianness() === 'LE';
/** Below this, a byte loop beats setting up a word view. */
const WORD_THRESHOLD = 16;

// The last Int32Array view made, over a whole ArrayBuffer: the frames of one
// socket chunk share their ArrayBuffer, so most calls reuse it, not allocate.
let viewBuffer: ArrayBufferLike | null = null;
let view: Int32Array<ArrayBufferLike> = new Int32Array(0);

function wordsOf(buffer: ArrayBufferLike): Int32Array {
  if (buffer !== viewBuffer) {
    viewBuffer = buffer;
    view = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  return view;
}

/** XORs data in place with the key, from payload offset `phase`. */
export function maskJs(data: Uint8Array, key: Uint8Array, phase: number): void {
  const len = data.length;
  let i = 0;
  if (len >= WORD_THRESHOLD && LITTLE_ENDIAN) {
    const start = data.byteOffset;
    const head = (4 - (start & 3)) & 3;
    for (; i < head; i++) data[i]! ^= key[(phase + i) & 3]!;
    const word = keyWord(key, phase + i);
    const v = wordsOf(data.buffer);
    let w = (start + i) >>> 2;
    const end = w + ((len - i) >>> 2);
    const end8 = end - 7;
    for (; w < end8; w += 8) {
      v[w]! ^= word; v[w + 1]! ^= word; v[w + 2]! ^= word; v[w + 3]! ^= word;
      v[w + 4]! ^= word; v[w + 5]! ^= word; v[w + 6]! ^= word; v[w + 7]! ^= word;
    }
    for (; w < end; w++) v[w]! ^= word;
    i += ((len - i) >>> 2) << 2;
  }
  for (; i < len; i++) data[i]! ^= key[(phase + i) & 3]!;
}

/** maskJs that also returns true if every unmasked byte is ASCII (an OR of the results, tested at the end). */
export function maskJsAscii(data: Uint8Array, key: Uint8Array, phase: number): boolean {
  const len = data.length;
  let i = 0;
  let acc = 0;
  if (len >= WORD_THRESHOLD && LITTLE_ENDIAN) {
    const start = data.byteOffset;
    const head = (4 - (start & 3)) & 3;
    for (; i < head; i++) acc |= data[i]! ^= key[(phase + i) & 3]!;
    const word = keyWord(key, phase + i);
    const v = wordsOf(data.buffer);
    let w = (start + i) >>> 2;
    const end = w + ((len - i) >>> 2);
    const end4 = end - 3;
    for (; w < end4; w += 4) {
      acc |= (v[w]! ^= word) | (v[w + 1]! ^= word) | (v[w + 2]! ^= word) | (v[w + 3]! ^= word);
    }
    for (; w < end; w++) acc |= v[w]! ^= word;
    i += ((len - i) >>> 2) << 2;
  }
  for (; i < len; i++) acc |= data[i]! ^= key[(phase + i) & 3]!;
  return (acc & 0x80808080) === 0;
}
