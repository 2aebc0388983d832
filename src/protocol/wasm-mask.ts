/**
 * RFC 6455 §5.3 masking with a WebAssembly SIMD kernel. The module is
 * assembled by hand below (no toolchain, no dependency). Two functions:
 * mask(ptr, len, key) XORs len bytes of its own memory (len a multiple of
 * 16) with the 32-bit key splatted over a 128-bit vector, 64 bytes a turn;
 * mask_ascii(ptr, len, key) does the same and also ORs every unmasked vector
 * into an accumulator, returning i8x16.bitmask of it: 0 when every byte is
 * ASCII. The decoder uses that flag to skip the UTF-8 pass over pure-ASCII
 * text (ASCII never changes a UTF-8 validator's state), while the bytes are
 * still in a register, so the check costs one v128.or per 16 bytes.
 *
 * Wasm can only touch its own memory, so a Buffer is copied in, XORed and
 * copied back, 16 KiB at a time: both copies then hit the L1 cache (64 KiB
 * pieces measured 1.6x slower here). Two memcpys and a SIMD pass still beat
 * the JS word loop from about 1 KiB up; smaller buffers stay in JS (mask.ts
 * picks). If the engine lacks SIMD, `wasmMask` is null.
 */
import { keyWord } from './mask-key.js';

/** Bytes handled per round trip through wasm memory (fits L1 twice over). */
export const WASM_CHUNK = 16 * 1024;

// Opcodes used (WebAssembly core spec §5.4, SIMD proposal).
const I32 = 0x7f, V128 = 0x7b, VOID = 0x40;
const BLOCK = 0x02, LOOP = 0x03, BR = 0x0c, BR_IF = 0x0d, END = 0x0b;
const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22, I32_CONST = 0x41;
const I32_ADD = 0x6a, I32_GE_U = 0x4f, I32_GT_U = 0x4b;
const SIMD = 0xfd, V128_LOAD = 0x00, V128_STORE = 0x0b, I32X4_SPLAT = 0x11;
const V128_OR = 0x50, V128_XOR = 0x51, I8X16_BITMASK = 0x64; // SIMD sub-opcodes (one-byte LEBs, all < 128)

// Locals: params 0 ptr, 1 len, 2 key; then the declared ones.
// mask():       3 k (v128), 4 end (i32).
// mask_ascii(): 3 k, 4 acc, 5 x (v128), 6 end (i32).
const PTR = 0, LEN = 1, KEY = 2, K = 3, ACC = 4, X = 5;

/**
 * *p ^= k for the 16 bytes at ptr + offset (offset < 128: a one-byte LEB);
 * with `ascii`, also acc |= the unmasked vector.
 */
function xor16(offset: number, ascii: boolean): number[] {
  if (!ascii) {
    return [
      LOCAL_GET, PTR,
      LOCAL_GET, PTR, SIMD, V128_LOAD, 4, offset, // align 2^4, offset
      LOCAL_GET, K, SIMD, V128_XOR,
      SIMD, V128_STORE, 4, offset,
    ];
  }
  return [
    LOCAL_GET, PTR,
    LOCAL_GET, PTR, SIMD, V128_LOAD, 4, offset,
    LOCAL_GET, K, SIMD, V128_XOR, LOCAL_TEE, X, // x = *p ^ k, kept on the stack for the store
    SIMD, V128_STORE, 4, offset,
    LOCAL_GET, ACC, LOCAL_GET, X, SIMD, V128_OR, LOCAL_SET, ACC, // acc |= x
  ];
}

function addToPtr(n: number): number[] {
  // n is 16 or 64: signed LEB128 (64 needs two bytes, its bit 6 being the sign bit).
  const leb = n < 64 ? [n] : [0x80 | (n & 0x7f), n >> 7];
  return [LOCAL_GET, PTR, I32_CONST, ...leb, I32_ADD, LOCAL_SET, PTR];
}

/** The body of mask() or, with `ascii`, of mask_ascii() (locals start at zero, so acc does too). */
function kernelBody(ascii: boolean): number[] {
  const endPtr = ascii ? 6 : 4;
  return [
    ...(ascii ? [2, 3, V128, 1, I32] : [2, 1, V128, 1, I32]), // local declarations: v128s, then one i32
    LOCAL_GET, KEY, SIMD, I32X4_SPLAT, LOCAL_SET, K,
    LOCAL_GET, PTR, LOCAL_GET, LEN, I32_ADD, LOCAL_SET, endPtr,
    // 64 bytes a turn while they fit.
    BLOCK, VOID, LOOP, VOID,
    LOCAL_GET, PTR, I32_CONST, 0xc0, 0x00, I32_ADD, LOCAL_GET, endPtr, I32_GT_U, BR_IF, 1,
    ...xor16(0, ascii), ...xor16(16, ascii), ...xor16(32, ascii), ...xor16(48, ascii),
    ...addToPtr(64),
    BR, 0, END, END,
    // Then 16 at a time.
    BLOCK, VOID, LOOP, VOID,
    LOCAL_GET, PTR, LOCAL_GET, endPtr, I32_GE_U, BR_IF, 1,
    ...xor16(0, ascii),
    ...addToPtr(16),
    BR, 0, END, END,
    // mask_ascii returns one bit per byte lane holding a high bit: 0 means all ASCII.
    ...(ascii ? [LOCAL_GET, ACC, SIMD, I8X16_BITMASK] : []),
    END,
  ];
}

const body = kernelBody(false);
const bodyAscii = kernelBody(true);

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function name(s: string): number[] {
  return [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
}

/** The module's bytes, exported for tests and for docs. */
export const WASM_MASK_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  ...section(1, [2, // two types
    0x60, 3, I32, I32, I32, 0, // type 0: (i32, i32, i32) -> ()
    0x60, 3, I32, I32, I32, 1, I32, // type 1: (i32, i32, i32) -> i32
  ]),
  ...section(3, [2, 0, 1]), // function 0 has type 0, function 1 type 1
  ...section(5, [1, 0x00, 2]), // one memory, min 2 pages (128 KiB), no max
  ...section(7, [3, ...name('memory'), 0x02, 0, ...name('mask'), 0x00, 0, ...name('mask_ascii'), 0x00, 1]),
  ...section(10, [2, ...uleb(body.length), ...body, ...uleb(bodyAscii.length), ...bodyAscii]),
]);

export interface WasmMask {
  /** The module's memory; bytes [0, WASM_CHUNK) are the scratch area. */
  readonly memory: Uint8Array;
  /** The scratch area as one view (the memory never grows, so it stays valid). */
  readonly scratch: Uint8Array;
  /** XORs memory[ptr, ptr + len) with key (little-endian word); len a multiple of 16. */
  readonly kernel: (ptr: number, len: number, key: number) => void;
  /** The same, returning 0 if every byte it wrote is ASCII (< 0x80), else a nonzero lane bitmask. */
  readonly kernelAscii: (ptr: number, len: number, key: number) => number;
}

/** The little of the WebAssembly JS API used here (lib "ES2022" does not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

function instantiate(): WasmMask | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  try {
    if (!wasm || !wasm.validate(WASM_MASK_MODULE)) return null;
    const exports = new wasm.Instance(new wasm.Module(WASM_MASK_MODULE), {}).exports as {
      memory: { buffer: ArrayBuffer };
      mask: (p: number, l: number, k: number) => void;
      mask_ascii: (p: number, l: number, k: number) => number;
    };
    const buffer = exports.memory.buffer;
    return {
      memory: new Uint8Array(buffer), scratch: new Uint8Array(buffer, 0, WASM_CHUNK),
      kernel: exports.mask, kernelAscii: exports.mask_ascii,
    };
  } catch {
    return null;
  }
}

/** The instantiated kernel, or null where WebAssembly SIMD is unavailable (or PUSHWIRE_NO_WASM is set). */
export const wasmMask: WasmMask | null = process.env.PUSHWIRE_NO_WASM ? null : instantiate();

/**
 * Copies src into dst at dstOffset, masked on the way through wasm memory: the
 * 16-byte-multiple body a chunk at a time (copy in, kernel, copy out), the
 * last < 16 bytes here. dst may be src itself at offset 0 (in place): each
 * piece is in wasm memory before it is written back. With `ascii` it runs
 * mask_ascii and returns true if every unmasked byte is ASCII; without, mask,
 * and returns false.
 */
export function maskWasm(
  w: WasmMask, src: Uint8Array, key: Uint8Array, phase: number, dst: Uint8Array, dstOffset: number, ascii: boolean,
): boolean {
  const len = src.length;
  const p = phase & 3;
  const word = keyWord(key, p);
  const mem = w.memory;
  const body = len & ~15;
  let high = 0;
  for (let off = 0; off < body; off += WASM_CHUNK) {
    const n = Math.min(WASM_CHUNK, body - off);
    mem.set(new Uint8Array(src.buffer, src.byteOffset + off, n), 0);
    if (ascii) high |= w.kernelAscii(0, n, word);
    else w.kernel(0, n, word);
    dst.set(n === WASM_CHUNK ? w.scratch : new Uint8Array(mem.buffer, 0, n), dstOffset + off);
  }
  // body is a multiple of 4, so the tail starts at key phase p again.
  for (let i = body; i < len; i++) high |= (dst[dstOffset + i] = src[i]! ^ key[(p + i) & 3]!) & 0x80;
  return ascii && high === 0;
}
