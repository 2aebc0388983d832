/**
 * Write coalescing for fan-out (docs/PROTOCOL.md §3.9): what is owed to one
 * client within one turn of the event loop leaves in one write when the turn
 * ends. A write costs a syscall and Node's stream bookkeeping whatever its
 * size, so 20 messages published in one turn cost each subscriber one write
 * instead of 20.
 *
 * The parts are the broadcast's own Buffers (framed once); a target only
 * keeps references to them. At the flush, a target whose parts are the very
 * ones the previous target had (the usual case: every subscriber of a channel
 * owes the same messages in the same order) gets the same joined Buffer, so
 * the bytes are joined once per flush, not once per client.
 */

/** Something that writes to one client: a WebSocket connection, an HTTP stream. */
export interface BatchTarget {
  /** Parts owed, oldest first; null when nothing is owed. Kept by WriteBatch. */
  batched: Buffer[] | null;
  /** Their total length. */
  batchedBytes: number;
  /**
   * Writes what is owed: one Buffer (possibly shared with other targets) or
   * the parts themselves when they are too large to join (written corked, one writev).
   */
  writeBatched(data: Buffer | Buffer[]): void;
}

/** Above this many bytes the parts are not joined (the copy would cost more than the writev). */
const JOIN_LIMIT = 16 * 1024;

export class WriteBatch {
  private dirty: BatchTarget[] = [];
  private scheduled = false;
  private readonly flush = (): void => this.flushAll();

  /**
   * `delay` 0: flush when the current turn is over (setImmediate: after the
   * poll phase, so messages from several reads of one phase go together).
   * A few ms trade latency for fewer writes under many small turns.
   */
  constructor(readonly delay = 0) {
    if (!(Number.isFinite(delay) && delay >= 0)) throw new RangeError('delay must be a non-negative number of ms');
  }

  /** Owes `part` to `target`, after whatever it already owes. */
  add(target: BatchTarget, part: Buffer): void {
    const parts = target.batched;
    if (parts !== null) {
      parts.push(part);
      target.batchedBytes += part.length;
      return;
    }
    target.batched = [part];
    target.batchedBytes = part.length;
    this.dirty.push(target);
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.delay === 0) setImmediate(this.flush);
    else setTimeout(this.flush, this.delay);
  }

  /** Everything owed, written now, e.g. before the target writes something of its own that must follow it. */
  static writeNow(target: BatchTarget): void {
    const parts = target.batched;
    if (parts === null) return;
    target.batched = null;
    target.batchedBytes = 0;
    target.writeBatched(parts.length === 1 ? parts[0]! : parts);
  }

  /** Drops what is owed (the client is gone). */
  static drop(target: BatchTarget): void {
    target.batched = null;
    target.batchedBytes = 0;
  }

  private flushAll(): void {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    let lastParts: Buffer[] | null = null;
    let lastJoined: Buffer | null = null;
    for (let i = 0; i < dirty.length; i++) {
      const target = dirty[i]!;
      const parts = target.batched;
      if (parts === null) continue; // written or dropped meanwhile
      const bytes = target.batchedBytes;
      target.batched = null;
      target.batchedBytes = 0;
      if (parts.length === 1) {
        target.writeBatched(parts[0]!);
      } else if (lastParts !== null && sameParts(lastParts, parts)) {
        target.writeBatched(lastJoined!);
      } else if (bytes <= JOIN_LIMIT) {
        lastParts = parts;
        lastJoined = Buffer.concat(parts, bytes);
        target.writeBatched(lastJoined);
      } else {
        target.writeBatched(parts);
      }
    }
  }
}

function sameParts(a: Buffer[], b: Buffer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
