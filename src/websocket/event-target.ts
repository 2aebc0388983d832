/**
 * The browser's event interface of a WebSocket over its node events, as `ws`
 * offers it: `onopen`/`onmessage`/`onclose`/`onerror` and
 * addEventListener/removeEventListener, whose listeners get event objects.
 * Each listener is wrapped once, when it is added; nothing is allocated per
 * message but the event object itself.
 */
import type { EventEmitter } from 'node:events';

/** What `event.data` is for a binary message ('nodebuffer' is ws's default; browsers default to 'blob'). */
export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'blob';
export const BINARY_TYPES: readonly BinaryType[] = ['nodebuffer', 'arraybuffer', 'blob'];

export class Event {
  readonly type: string;
  readonly target: unknown;
  constructor(type: string, target: unknown) {
    this.type = type;
    this.target = target;
  }
}

/** A message: text as a string, binary as `binaryType` says. */
export class MessageEvent extends Event {
  readonly data: string | Buffer | ArrayBuffer | Blob;
  constructor(target: unknown, data: string | Buffer | ArrayBuffer | Blob) {
    super('message', target);
    this.data = data;
  }
}

export class CloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  /** Both close frames went through before TCP closed (RFC 6455 §7.1.4, "closed cleanly"). */
  readonly wasClean: boolean;
  constructor(target: unknown, code: number, reason: string, wasClean: boolean) {
    super('close', target);
    this.code = code;
    this.reason = reason;
    this.wasClean = wasClean;
  }
}

export class ErrorEvent extends Event {
  readonly error: unknown;
  readonly message: string;
  constructor(target: unknown, error: Error) {
    super('error', target);
    this.error = error;
    this.message = error.message;
  }
}

/** The event object each type's listeners receive. */
export interface WebSocketEventMap {
  open: Event;
  message: MessageEvent;
  close: CloseEvent;
  error: ErrorEvent;
}
export type EventType = keyof WebSocketEventMap;
export type EventListenerOf<E> = ((event: E) => void) | { handleEvent(event: E): void };

/** What the wrappers read from the connection when they build an event. */
export interface EventSourceState {
  readonly binaryType: BinaryType;
  readonly wasClean: boolean;
}

const kListener = Symbol('pushwire.listener');
const kAttribute = Symbol('pushwire.forOnAttribute');
type Wrapper = ((...args: any[]) => void) & { [kListener]: unknown; [kAttribute]: boolean };
type Emitter = EventEmitter & { listeners(type: string): Function[] };

const EVENT_TYPES = new Set<string>(['open', 'message', 'close', 'error']);

function call(listener: unknown, target: unknown, event: Event): void {
  if (typeof listener === 'function') listener.call(target, event);
  else (listener as { handleEvent(event: Event): void }).handleEvent(event);
}

function binaryData(data: Buffer, binaryType: BinaryType): Buffer | ArrayBuffer | Blob {
  if (binaryType === 'nodebuffer') return data;
  if (binaryType === 'blob') return new Blob([data]);
  const { buffer, byteOffset, byteLength } = data;
  return byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer
    ? buffer : buffer.slice(byteOffset, byteOffset + byteLength) as ArrayBuffer;
}

function wrap(type: string, listener: unknown, state: EventSourceState): Wrapper {
  let wrapper;
  switch (type) {
    case 'open':
      wrapper = function onOpen(this: unknown) { call(listener, this, new Event('open', this)); };
      break;
    case 'message':
      wrapper = function onMessage(this: unknown, data: Buffer, isBinary: boolean) {
        call(listener, this, new MessageEvent(this, isBinary ? binaryData(data, state.binaryType) : data.toString()));
      };
      break;
    case 'close':
      wrapper = function onClose(this: unknown, code: number, reason: Buffer) {
        call(listener, this, new CloseEvent(this, code, reason.toString(), state.wasClean));
      };
      break;
    default:
      wrapper = function onError(this: unknown, error: Error) { call(listener, this, new ErrorEvent(this, error)); };
  }
  return wrapper as unknown as Wrapper;
}

function isListener(listener: unknown): boolean {
  return typeof listener === 'function' ||
    (typeof listener === 'object' && listener !== null && typeof (listener as { handleEvent?: unknown }).handleEvent === 'function');
}

/**
 * Adds a listener for 'open', 'message', 'close' or 'error' (others are
 * ignored, as are listeners already added); `once` removes it after one call.
 */
export function addEventListener(target: EventEmitter, state: EventSourceState, type: string, listener: unknown,
  options?: { once?: boolean }, forAttribute = false): void {
  if (!EVENT_TYPES.has(type) || !isListener(listener)) return;
  const emitter = target as Emitter;
  if (!forAttribute) {
    for (const l of emitter.listeners(type)) {
      if ((l as Wrapper)[kListener] === listener && !(l as Wrapper)[kAttribute]) return;
    }
  }
  const wrapper = wrap(type, listener, state);
  wrapper[kListener] = listener;
  wrapper[kAttribute] = forAttribute;
  if (options?.once) emitter.once(type, wrapper);
  else emitter.on(type, wrapper);
}

/** Removes a listener added with addEventListener (not one set through an `onX` property). */
export function removeEventListener(target: EventEmitter, type: string, listener: unknown): void {
  const emitter = target as Emitter;
  for (const l of emitter.listeners(type)) {
    if ((l as Wrapper)[kListener] === listener && !(l as Wrapper)[kAttribute]) {
      emitter.removeListener(type, l as Wrapper);
      return;
    }
  }
}

/** The listener set through `onX` for this type, or null. */
export function attributeListener(target: EventEmitter, type: EventType): unknown {
  for (const l of (target as Emitter).listeners(type)) {
    if ((l as Wrapper)[kAttribute]) return (l as Wrapper)[kListener];
  }
  return null;
}

/** `onX = listener`: replaces only the listener set through that property (null or a non-function clears it). */
export function setAttributeListener(target: EventEmitter, state: EventSourceState, type: EventType, listener: unknown): void {
  const emitter = target as Emitter;
  for (const l of emitter.listeners(type)) {
    if ((l as Wrapper)[kAttribute]) {
      emitter.removeListener(type, l as Wrapper);
      break;
    }
  }
  if (typeof listener === 'function') addEventListener(target, state, type, listener, undefined, true);
}
