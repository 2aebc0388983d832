import fs from 'node:fs';
import path from 'node:path';

/**
 * Message ids per channel that keep rising across restarts (docs/PROTOCOL.md §3.2).
 * Ids are reserved in blocks: before the first id of
 * a block is handed out, the block's top is written durably to the data dir.
 * A restart starts every channel above its last reserved block, so a `since`
 * from an earlier run can never be mistaken for an id of this one. The cost is
 * one small synchronous write per `blockSize` publishes per channel.
 */
export class IdSequence {
  /** Last id handed out per channel (after a restart: the top of the last reserved block). */
  private readonly lastIssued = new Map<string, number>();
  /** Highest id covered by a durable reservation, per channel. */
  private readonly reserved = new Map<string, number>();
  private readonly file: string | null;
  private readonly blockSize: number;

  /** `file` null keeps ids in memory only (ids then restart at 1 with the process). */
  constructor(file: string | null, blockSize = 1000) {
    if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw new RangeError('blockSize must be a positive integer');
    this.file = file;
    this.blockSize = blockSize;
    if (file) this.load(file);
  }

  /** The channel's last id: 0 for a channel that never had one. */
  last(channel: string): number {
    return this.lastIssued.get(channel) ?? 0;
  }

  /** The next id of the channel, durable-reserved before it is returned. */
  next(channel: string): number {
    const id = (this.lastIssued.get(channel) ?? 0) + 1;
    if (this.file && id > (this.reserved.get(channel) ?? 0)) {
      const previous = this.reserved.get(channel);
      this.reserved.set(channel, id - 1 + this.blockSize);
      try {
        this.persist(this.file);
      } catch (err) {
        // Not durable, so not reserved: the id is not handed out and the next call tries again.
        if (previous === undefined) this.reserved.delete(channel);
        else this.reserved.set(channel, previous);
        throw err;
      }
    }
    this.lastIssued.set(channel, id);
    return id;
  }

  private load(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const parsed = JSON.parse(text) as { reserved?: Record<string, unknown> };
    for (const [channel, top] of Object.entries(parsed.reserved ?? {})) {
      if (typeof top !== 'number' || !Number.isSafeInteger(top) || top < 0) continue;
      // Every id up to the reservation may have been issued: continue above it.
      this.lastIssued.set(channel, top);
      this.reserved.set(channel, top);
    }
  }

  /** tmp file, fsync, rename, fsync the directory: the old or the new reservation survives a crash, never a torn one. */
  private persist(file: string): void {
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.tmp`;
    const body = JSON.stringify({ version: 1, reserved: Object.fromEntries(this.reserved) }) + '\n';
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, body);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    try {
      const dirFd = fs.openSync(dir, 'r');
      try { fs.fsyncSync(dirFd); } finally { fs.closeSync(dirFd); }
    } catch {
      // Some file systems refuse fsync on a directory; the rename is still atomic.
    }
  }
}
