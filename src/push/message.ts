import { PreparedMessage } from '../websocket/prepared-message.js';

/** A channel name (docs/PROTOCOL.md §3.1). */
export const CHANNEL_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
/** docs/PROTOCOL.md §3.1: event names beginning with this are the server's own (`push:gap`). */
export const RESERVED_PREFIX = 'push:';

/** Characters that could end or break a `<script>` element, or a JS string before ES2019. */
const SCRIPT_UNSAFE = /[<\u2028\u2029]/g;
const SCRIPT_ESCAPES: Record<string, string> = { '<': '\\u003c', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/** JSON that is safe inside an HTML `<script>` element; JSON.parse gives the same value back. */
export function scriptSafeJson(json: string): string {
  return json.replace(SCRIPT_UNSAFE, (c) => SCRIPT_ESCAPES[c]!);
}

/**
 * One JSON text as the techniques write it: a WebSocket message (framed, and
 * compressed per deflate setting) and iframe script chunks, each built the
 * first time a client needs it and then shared by every client.
 */
export class WireForms {
  private wsMessage: PreparedMessage | null = null;
  private safeJson: string | null = null;
  /** Iframe chunks by callback name; nearly every page uses one name, so this stays tiny. */
  private iframeChunks: Map<string, Buffer> | null = null;

  constructor(readonly json: string) {}

  prepared(): PreparedMessage {
    return (this.wsMessage ??= new PreparedMessage(this.json));
  }

  /** `<script>_()&&parent.F(MSG)</script>` with MSG script-safe; `_()` is the stream's guard (docs/PROTOCOL.md §3.5). */
  iframe(callback: string): Buffer {
    let chunk = this.iframeChunks?.get(callback);
    if (chunk) return chunk;
    this.safeJson ??= scriptSafeJson(this.json);
    chunk = Buffer.from(`<script>_()&&parent.${callback}(${this.safeJson})</script>\n`);
    this.iframeChunks ??= new Map();
    if (this.iframeChunks.size < 4) this.iframeChunks.set(callback, chunk);
    return chunk;
  }
}

/** Publish order within this process, so answers that merge channels keep it. */
let published = 0;

/**
 * One published message. Its JSON is made once at publish; the bytes each
 * technique writes (WebSocket frame, SSE block, long-poll answer, iframe
 * script) are built the first time a client needs them and then shared by
 * every client: one copy however many read it. A subscription of several
 * channels (docs/PROTOCOL.md §3.11) gets the *tagged* forms, whose object also
 * names the channel; they too are built once, on first use.
 */
export class PushMessage {
  readonly channel: string;
  readonly id: number;
  readonly event: string;
  /** `{"id":…,"event":…,"data":…}`, exactly what a single-channel client sees. */
  readonly json: string;
  /** Rank in this process's publish order (merging channels by it keeps that order). */
  readonly order: number;
  /** Where the data's JSON starts inside `json` (it runs to the final `}`). */
  private readonly dataOffset: number;
  private plainForms: WireForms | null = null;
  private taggedForms: WireForms | null = null;
  private sseBlock: Buffer | null = null;
  private sseTail: Buffer | null = null;
  private pollBody: Buffer | null = null;

  constructor(channel: string, id: number, event: string, dataJson: string) {
    this.channel = channel;
    this.id = id;
    this.event = event;
    this.order = ++published;
    const head = `{"id":${id},"event":${JSON.stringify(event)},"data":`;
    this.dataOffset = head.length;
    this.json = head + dataJson + '}';
  }

  /** The data as JSON text (a slice of `json`, not a second copy). */
  get dataJson(): string {
    return this.json.slice(this.dataOffset, -1);
  }

  /** The data itself, parsed back (for server-side readers; clients get the bytes). */
  get data(): unknown {
    return JSON.parse(this.dataJson);
  }

  /** `{"channel":…,"id":…,"event":…,"data":…}`: the message object of a multiplexed subscription. */
  get taggedJson(): string {
    return this.forms(true).json;
  }

  /** The shared wire forms of `json` (tagged false) or of `taggedJson` (tagged true). */
  forms(tagged: boolean): WireForms {
    if (tagged) return (this.taggedForms ??= new WireForms(`{"channel":${JSON.stringify(this.channel)},${this.json.slice(1)}`));
    return (this.plainForms ??= new WireForms(this.json));
  }

  /**
   * `json` as a WebSocket message prepared once for every subscriber: its
   * plain frame, and a compressed frame per set of permessage-deflate settings.
   */
  prepared(): PreparedMessage {
    return this.forms(false).prepared();
  }

  /** The unmasked server text frame holding `json`. */
  frame(): Buffer {
    return this.prepared().frame;
  }

  /** `id: N\nevent: E\ndata: <data JSON>\n\n` (JSON never holds a raw line break). */
  sse(): Buffer {
    return (this.sseBlock ??= Buffer.from(`id: ${this.id}\nevent: ${this.event}\ndata: ${this.dataJson}\n\n`));
  }

  /**
   * A multiplexed SSE event after its `id:` line, which differs per stream
   * (the compound cursor): `event: E\ndata: <taggedJson>\n\n`.
   */
  taggedSseTail(): Buffer {
    return (this.sseTail ??= Buffer.from(`event: ${this.event}\ndata: ${this.taggedJson}\n\n`));
  }

  /** The long-poll answer when this message is the only one new: what a woken poll sends. */
  singlePollBody(): Buffer {
    return (this.pollBody ??= Buffer.from(`{"messages":[${this.json}],"last":${this.id},"gap":false}`));
  }

  /** `<script>_()&&parent.F(MSG)</script>` with MSG script-safe. */
  iframe(callback: string): Buffer {
    return this.forms(false).iframe(callback);
  }
}

/** The `push:gap` notice of the streaming techniques: L is the channel's last id. */
export function gapMessage(channel: string, last: number): PushMessage {
  return new PushMessage(channel, last, 'push:gap', 'null');
}

/** Validates an event name for publishing; throws TypeError. */
export function checkEventName(event: unknown, allowReserved = false): asserts event is string {
  if (typeof event !== 'string' || event.length === 0) throw new TypeError('event must be a non-empty string');
  // A line break would split an SSE field; no event name needs one.
  if (/[\r\n]/.test(event)) throw new TypeError('event must not contain a line break');
  if (!allowReserved && event.startsWith(RESERVED_PREFIX)) throw new TypeError(`event names beginning with "${RESERVED_PREFIX}" are reserved`);
}

/** JSON of data for a message; undefined becomes null, anything JSON cannot hold throws TypeError. */
export function dataToJson(data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    throw new TypeError(`data is not JSON-serialisable: ${(err as Error).message}`);
  }
  if (json === undefined) {
    if (data === undefined) return 'null';
    throw new TypeError('data is not JSON-serialisable');
  }
  return json;
}
