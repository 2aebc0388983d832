import { HttpError } from '../http/respond.js';
import type { Journal, Registration } from './journal.js';
import type { AppPush } from './push-api.js';

/** docs/PROTOCOL.md §4.2: every 201 publishes `count` on this channel. */
export const REGISTRATIONS_CHANNEL = 'registrations';
export const COUNT_EVENT = 'count';
/** docs/PROTOCOL.md §4.2: a name is 1 to 100 code points after trimming. */
export const MAX_NAME_LENGTH = 100;

export interface CountState {
  count: number;
  capacity: number;
}

/**
 * The name of a POST /api/registrations body, trimmed; HttpError 400 for
 * anything else. Length is in code points, so an emoji counts once.
 */
export function nameFromBody(body: unknown): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object {"name": "..."}');
  const raw = (body as Record<string, unknown>).name;
  if (typeof raw !== 'string') throw new HttpError(400, 'name must be a string');
  const name = raw.trim();
  // A lone surrogate is no character at all; it would also not survive UTF-8.
  if (LONE_SURROGATE.test(name)) throw new HttpError(400, 'name is not valid Unicode');
  const length = codePointLength(name, MAX_NAME_LENGTH + 1);
  if (length === 0) throw new HttpError(400, 'name must not be empty');
  if (length > MAX_NAME_LENGTH) throw new HttpError(400, `name must be at most ${MAX_NAME_LENGTH} characters`);
  return name;
}

/** A surrogate without its pair: JSON can carry one (`"\ud800"`), UTF-8 cannot. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Code points in `text`, counting no further than `stopAt`. */
export function codePointLength(text: string, stopAt = Infinity): number {
  let length = 0;
  for (let i = 0; i < text.length && length < stopAt; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    length++;
  }
  return length;
}

/** Names are compared after Unicode lower-casing (docs/PROTOCOL.md §4.2). */
function nameKey(name: string): string {
  return name.toLowerCase();
}

/**
 * The sign-up list: at most `capacity` distinct names, each acknowledged only
 * once durable in the journal.
 *
 * Atomicity comes from the event loop: the duplicate and capacity checks and
 * the reservation of a place happen in one synchronous step, so concurrent
 * requests can never take more places than there are. The journal write that
 * follows is asynchronous (and group-committed); a place reserved but not yet
 * durable counts against the capacity, yet is not shown as taken until the
 * journal has it, so GET never reports a count that a crash could take back.
 */
export class Registrations {
  readonly capacity: number;
  private readonly journal: Journal;
  private readonly push: AppPush;
  /** Lower-cased names taken or being made durable. */
  private readonly taken = new Set<string>();
  /** Places handed out, durable or not. */
  private reserved: number;
  /** Places durable and published: what GET and the page show. */
  private acknowledged: number;
  private closing = false;
  /** The highest count the log could not take (0: none waiting). */
  private unpublished = 0;
  private retry: NodeJS.Timeout | null = null;
  /** Counts the log could not take at first (each was retried). */
  publishFailures = 0;

  constructor(journal: Journal, replayed: readonly Registration[], capacity: number, push: AppPush) {
    this.journal = journal;
    this.capacity = capacity;
    this.push = push;
    for (const registration of replayed) this.taken.add(nameKey(registration.name));
    this.reserved = this.acknowledged = replayed.length;
  }

  /** Places durable: the count GET shows. */
  get count(): number {
    return this.acknowledged;
  }

  /**
   * GET /api/registrations: the count and the id it corresponds to. The id is
   * read first: every count published at or below it was acknowledged before,
   * so the count includes it; a later one the page gets live (counts are
   * absolute, so one it already includes changes nothing). While a shared
   * log is away, the highest id this process has seen stands in: too low
   * costs the page only updates it already counted.
   */
  async state(): Promise<CountState & { last: number }> {
    const last = await this.push.last(REGISTRATIONS_CHANNEL).catch((err: unknown) => {
      if (!this.push.knownLast) throw err;
      return this.push.knownLast(REGISTRATIONS_CHANNEL);
    });
    return { count: this.acknowledged, capacity: this.capacity, last };
  }

  /** Registers a (validated) name; resolves once durable and published, or throws HttpError 409/503. */
  async register(name: string): Promise<CountState> {
    if (this.closing) throw new HttpError(503, 'server is shutting down');
    if (this.journal.failed) throw new HttpError(503, 'registration journal unavailable');
    const key = nameKey(name);
    // "already registered" wins over "full" (docs/PROTOCOL.md §4.2).
    if (this.taken.has(key)) throw new HttpError(409, 'already registered');
    if (this.reserved >= this.capacity) throw new HttpError(409, 'full');
    this.taken.add(key);
    const n = ++this.reserved;
    try {
      await this.journal.append({ n, name, at: Date.now() });
    } catch {
      // What reached the disk is unknown now; the journal refuses everything from here on.
      throw new HttpError(503, 'registration journal unavailable');
    }
    // Batches complete in order, so places are acknowledged (and their counts published) in order.
    this.acknowledged = n;
    this.publishCount(n);
    return { count: n, capacity: this.capacity };
  }

  /**
   * Publishes the count. The registration is durable and counted whatever
   * happens here, so it is answered 201 even when a shared log cannot take
   * the update (docs/PROTOCOL.md §3.12); the count is then published again,
   * once a second, until the log takes it or a later registration publishes
   * a higher one (counts are absolute: the latest says it all).
   */
  private publishCount(n: number): void {
    this.push.publish(REGISTRATIONS_CHANNEL, COUNT_EVENT, { count: n, capacity: this.capacity }).then(() => {
      if (n >= this.unpublished) this.unpublished = 0;
    }, () => {
      if (this.closing) return;
      this.publishFailures++;
      if (n > this.unpublished) this.unpublished = n;
      if (this.retry === null) {
        this.retry = setTimeout(() => {
          this.retry = null;
          // A later registration may have published meanwhile.
          if (this.unpublished !== 0 && this.unpublished === this.acknowledged) this.publishCount(this.acknowledged);
          else this.unpublished = 0;
        }, 1000);
        this.retry.unref();
      }
    });
  }

  /** Stops taking registrations and makes every accepted one durable. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.retry) clearTimeout(this.retry);
    await this.journal.close();
  }
}
