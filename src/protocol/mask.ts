import { endianness } from 'node:os';
import { applyMaskWasm, keyWord, NO_WASM, unmaskIntoWasm, unmaskWasm, wasmMask } from './wasm-mask.js';

const LITTLE_ENDIAN = endianness() === 'LE';
/** Below this, a byte loop beats setting up a word view. */
const WORD_THRESHOLD = 16;
/**
 * From this size the wasm SIMD kernel, two memcpys included, beats the JS
 * word loop (measured here: even at 1 KiB, ~1.8x at 2 KiB, ~2.5x at 64 KiB).
 */
export const WASM_THRESHOLD = 2048;

/**
 * XORs data in place with the 4-byte masking key (RFC 6455 §5.3).
 * `phase` is how many payload bytes came before `data` (for payloads unmasked
 * piece by piece as they arrive). Large buffers go through the WebAssembly
 * SIMD kernel when the engine has it, the rest through applyMaskJs.
 */
export function applyMask(data: Uint8Array, key: Uint8Array, phase = 0): void {
  if (data.length >= WASM_THRESHOLD && wasmMask !== null) {
    applyMaskWasm(data, key, phase);
    return;
  }
  applyMaskJs(data, key, phase);
}

/**
 * applyMask for the decoder: unmasks in place and returns true if every
 * unmasked byte is ASCII. A text decoder can then skip its UTF-8 pass over
 * pure-ASCII data (ASCII leaves a validator at a sequence boundary as it was);
 * the check rides along with the XOR, so it costs next to nothing.
 */
export function unmask(data: Uint8Array, key: Uint8Array, phase: number): boolean {
  if (data.length >= WASM_THRESHOLD) {
    const high = unmaskWasm(data, key, phase);
    if (high !== NO_WASM) return high === 0;
  }
  return applyMaskJsAscii(data, key, phase);
}

/**
 * Copies src into dst at dstOffset and unmasks the copy (src is left as it
 * was): one pass for a message assembled from pieces, where applyMask and a
 * separate copy would be two. Returns true if every unmasked byte is ASCII.
 */
export function unmaskInto(src: Uint8Array, key: Uint8Array, phase: number, dst: Uint8Array, dstOffset: number): boolean {
  if (src.length >= WASM_THRESHOLD) {
    const high = unmaskIntoWasm(src, key, phase, dst, dstOffset);
    if (high !== NO_WASM) return high === 0;
  }
  dst.set(src, dstOffset);
  return applyMaskJsAscii(dst.subarray(dstOffset, dstOffset + src.length), key, phase);
}

// The last Int32Array view made, over a whole ArrayBuffer: the frames of one
// socket chunk share their ArrayBuffer, so most calls reuse it, not allocate.
let viewBuffer: ArrayBufferLike | null = null;
let view: Int32Array<ArrayBufferLike> = new Int32Array(0);

/** A word view of the whole ArrayBuffer, cached: socket chunks often share one. */
function wordsOf(buffer: ArrayBufferLike): Int32Array {
  if (buffer !== viewBuffer) {
    viewBuffer = buffer;
    view = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  return view;
}

/**
 * The pure-JS kernel: a 32-bit word at a time (unrolled by 8) over the
 * 4-byte-aligned middle of the buffer, whatever its byteOffset; bytes at the ends.
 */
export function applyMaskJs(data: Uint8Array, key: Uint8Array, phase = 0): void {
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

/** applyMaskJs that also returns true if every unmasked byte is ASCII (an OR of the results, tested at the end). */
export function applyMaskJsAscii(data: Uint8Array, key: Uint8Array, phase = 0): boolean {
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

/** Byte-at-a-time reference, used by tests to check applyMask. */
export function applyMaskBytewise(data: Uint8Array, key: Uint8Array, phase = 0): void {
  for (let i = 0; i < data.length; i++) data[i]! ^= key[(phase + i) & 3]!;
}
