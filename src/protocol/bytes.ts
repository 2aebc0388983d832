/**
 * Bytes for the Engine.IO and Socket.IO codecs, which both ends load: the
 * server, and the browser client (/socket.io/socket.io.js), which has no
 * Buffer. Where Node's Buffer exists it is used: native base64, and Buffers
 * are what the server hands its callers, as socket.io does. Elsewhere plain
 * Uint8Arrays and atob/btoa.
 */

/** Node's Buffer in a build with Node's types (the server), else Uint8Array (the browser client). */
export type Bytes = typeof globalThis extends { Buffer: { isBuffer(value: any): value is infer B } } ? B : Uint8Array;

/** What the codecs use of Node's Buffer, declared here because the browser build has no Node types. */
interface NodeBytes extends Uint8Array {
  toString(encoding?: 'base64'): string;
}
interface NodeBuffer {
  from(text: string, encoding: 'base64'): NodeBytes;
  from(buffer: ArrayBufferLike, byteOffset?: number, length?: number): NodeBytes;
  isBuffer(value: unknown): value is NodeBytes;
}

const nodeBuffer = (globalThis as unknown as { Buffer?: NodeBuffer }).Buffer;

/** A view of a binary value's bytes, not a copy. */
export function portableBytesOf(value: ArrayBuffer | ArrayBufferView): Uint8Array {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** base64 (RFC 4648 §4, padded) with btoa. */
export function portableToBase64(bytes: Uint8Array): string {
  let binary = '';
  // In chunks: fromCharCode takes its arguments on the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000) as unknown as number[]);
  return btoa(binary);
}

/** Decodes base64 with atob, which throws on anything else. */
export function portableFromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function nodeBytesOf(buffer: NodeBuffer, value: ArrayBuffer | ArrayBufferView): NodeBytes {
  if (buffer.isBuffer(value)) return value;
  return value instanceof ArrayBuffer ? buffer.from(value) : buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** The bytes of a binary value, not copied: a Buffer as it is. */
export const bytesOf: (value: ArrayBuffer | ArrayBufferView) => Bytes = nodeBuffer
  ? (value) => nodeBytesOf(nodeBuffer, value) as unknown as Bytes
  : (portableBytesOf as (value: ArrayBuffer | ArrayBufferView) => Bytes);

export const toBase64: (bytes: Uint8Array) => string = nodeBuffer
  ? (bytes) => nodeBytesOf(nodeBuffer, bytes).toString('base64')
  : portableToBase64;

export const fromBase64: (text: string) => Bytes = nodeBuffer
  ? (text) => nodeBuffer.from(text, 'base64') as unknown as Bytes
  : (portableFromBase64 as (text: string) => Bytes);
