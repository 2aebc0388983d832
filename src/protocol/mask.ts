import { maskJs, maskJsAscii } from './js-mask.js';
import { maskWasm, wasmMask } from './wasm-mask.js';

/**
 * Masking (RFC 6455 §5.3): the one entry point. Each call picks its kernel,
 * the JS word loop (js-mask.ts) or the WebAssembly SIMD one (wasm-mask.ts);
 * the kernels share only the key word (mask-key.ts) and never call back here.
 *
 * `phase` is how many payload bytes came before `data`, for payloads
 * unmasked piece by piece as they arrive.
 */

/**
 * From this size the wasm SIMD kernel, two memcpys included, beats the JS
 * word loop (measured here: even at 1 KiB, ~1.8x at 2 KiB, ~2.5x at 64 KiB).
 */
export const WASM_THRESHOLD = 2048;

const wasm = wasmMask;

/** XORs data in place with the 4-byte masking key. */
export function applyMask(data: Uint8Array, key: Uint8Array, phase = 0): void {
  if (wasm !== null && data.length >= WASM_THRESHOLD) maskWasm(wasm, data, key, phase, data, 0, false);
  else maskJs(data, key, phase);
}

/**
 * applyMask for the decoder: unmasks in place and returns true if every
 * unmasked byte is ASCII. A text decoder can then skip its UTF-8 pass over
 * pure-ASCII data (ASCII leaves a validator at a sequence boundary as it was);
 * the check rides along with the XOR, so it costs next to nothing.
 */
export function unmask(data: Uint8Array, key: Uint8Array, phase: number): boolean {
  if (wasm !== null && data.length >= WASM_THRESHOLD) return maskWasm(wasm, data, key, phase, data, 0, true);
  return maskJsAscii(data, key, phase);
}

/**
 * Copies src into dst at dstOffset and unmasks the copy (src is left as it
 * was): one pass for a message assembled from pieces, where applyMask and a
 * separate copy would be two. Returns true if every unmasked byte is ASCII.
 */
export function unmaskInto(src: Uint8Array, key: Uint8Array, phase: number, dst: Uint8Array, dstOffset: number): boolean {
  if (wasm !== null && src.length >= WASM_THRESHOLD) return maskWasm(wasm, src, key, phase, dst, dstOffset, true);
  dst.set(src, dstOffset);
  return maskJsAscii(dst.subarray(dstOffset, dstOffset + src.length), key, phase);
}
