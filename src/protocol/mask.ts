import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';
/** Below this, creating a word view costs more than it saves. */
const WORD_THRESHOLD = 32;

/**
 * XORs data in place with the 4-byte masking key (RFC 6455 §5.3).
 * `phase` is how many payload bytes came before `data` (for payloads unmasked
 * piece by piece as they arrive). Works a 32-bit word at a time on the
 * aligned middle of the buffer, whatever its byteOffset.
 */
export function applyMask(data: Uint8Array, key: Uint8Array, phase = 0): void {
  const len = data.length;
  let i = 0;
  if (len >= WORD_THRESHOLD && LITTLE_ENDIAN) {
    const misalign = data.byteOffset & 3;
    const head = misalign === 0 ? 0 : 4 - misalign;
    for (; i < head; i++) data[i]! ^= key[(phase + i) & 3]!;
    const p = (phase + i) & 3;
    const word = key[p]! | (key[(p + 1) & 3]! << 8) | (key[(p + 2) & 3]! << 16) | (key[(p + 3) & 3]! << 24);
    const words = (len - i) >>> 2;
    const view = new Int32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= word;
    i += words << 2;
  }
  for (; i < len; i++) data[i]! ^= key[(phase + i) & 3]!;
}

/** Byte-at-a-time reference, used by tests to check applyMask. */
export function applyMaskBytewise(data: Uint8Array, key: Uint8Array, phase = 0): void {
  for (let i = 0; i < data.length; i++) data[i]! ^= key[(phase + i) & 3]!;
}
