import { PreparedMessage } from '../websocket/prepared-message.js';

/** CONTRACT.md: a channel name. */
export const CHANNEL_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
/** CONTRACT.md: event names beginning with this are the server's own (`push:gap`). */
export const RESERVED_PREFIX = 'push:';

/** Characters that could end or break a `<script>` element, or a JS string before ES2019. */
const SCRIPT_UNSAFE = /[<\u2028\u2029]/g;
const SCRIPT_ESCAPES: Record<string, string> = { '<': '\\u003c', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/** JSON that is safe inside an HTML `<script>` element; JSON.parse gives the same value back. */
export function scriptSafeJson(json: string): string {
  return json.replace(SCRIPT_UNSAFE, (c) => SCRIPT_ESCAPES[c]!);
}

/**
 * One published message. Its JSON is made once at publish; the bytes each
 * technique writes (WebSocket frame, SSE block, long-poll answer, iframe
 * script) are built the first time a client needs them and then shared by
 * every client: one copy however many read it.
 */
export class PushMessage {
  readonly channel: string;
  readonly id: number;
  readonly event: string;
  /** `{"id":…,"event":…,"data":…}`, exactly what every client sees. */
  readonly json: string;
  /** Where the data's JSON starts inside `json` (it runs to the final `}`). */
  private readonly dataOffset: number;
  private wsMessage: PreparedMessage | null = null;
  private sseBlock: Buffer | null = null;
  private pollBody: Buffer | null = null;
  private safeJson: string | null = null;
  /** Iframe chunks by callback name; nearly every page uses one name, so this stays tiny. */
  private iframeChunks: Map<string, Buffer> | null = null;

  constructor(channel: string, id: number, event: string, dataJson: string) {
    this.channel = channel;
    this.id = id;
    this.event = event;
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

  /**
   * `json` as a WebSocket message prepared once for every subscriber: its
   * plain frame, and a compressed frame per set of permessage-deflate settings.
   */
  prepared(): PreparedMessage {
    return (this.wsMessage ??= new PreparedMessage(this.json));
  }

  /** The unmasked server text frame holding `json`. */
  frame(): Buffer {
    return this.prepared().frame;
  }

  /** `id: N\nevent: E\ndata: <data JSON>\n\n` (JSON never holds a raw line break). */
  sse(): Buffer {
    return (this.sseBlock ??= Buffer.from(`id: ${this.id}\nevent: ${this.event}\ndata: ${this.dataJson}\n\n`));
  }

  /** The long-poll answer when this message is the only one new: what a woken poll sends. */
  singlePollBody(): Buffer {
    return (this.pollBody ??= Buffer.from(`{"messages":[${this.json}],"last":${this.id},"gap":false}`));
  }

  /** `<script>parent.F(MSG)</script>` with MSG script-safe. */
  iframe(callback: string): Buffer {
    let chunk = this.iframeChunks?.get(callback);
    if (chunk) return chunk;
    this.safeJson ??= scriptSafeJson(this.json);
    chunk = Buffer.from(`<script>parent.${callback}(${this.safeJson})</script>\n`);
    this.iframeChunks ??= new Map();
    if (this.iframeChunks.size < 4) this.iframeChunks.set(callback, chunk);
    return chunk;
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
