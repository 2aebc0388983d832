/**
 * The masking key (RFC 6455 §5.3) as a little-endian 32-bit word starting at
 * payload offset `phase`: byte 0 of the word is key[phase & 3]. Both kernels
 * XOR with it: wasm memory is little-endian whatever the host, and the JS
 * word views are used only on little-endian hosts.
 */
export function keyWord(key: Uint8Array, phase: number): number {
  const p = phase & 3;
  return key[p]! | (key[(p + 1) & 3]! << 8) | (key[(p + 2) & 3]! << 16) | (key[(p + 3) & 3]! << 24);
}
