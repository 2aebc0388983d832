import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';

/** One acknowledged registration, as kept in the journal. */
export interface Registration {
  /** Its place: 1 for the first registration ever, then consecutive. */
  n: number;
  /** The name as registered (trimmed). */
  name: string;
  /** When it was accepted, ms since the epoch. */
  at: number;
}

/** What replaying a journal found. */
export interface ReplayReport {
  registrations: Registration[];
  /** Bytes of a torn last record that were cut off (0 when the file ended cleanly). */
  tornBytes: number;
}

export class JournalError extends Error {}

const NEWLINE = 0x0a;

/**
 * The registration journal: an append-only file of one line per registration,
 *
 *     <crc32 of the JSON, 8 lowercase hex digits> <JSON>\n
 *     1c2a3b4d {"n":1,"name":"Ada","at":1764120000000}
 *
 * A record is durable once its line is written and the file fdatasync'd; the
 * service answers 201 only after that. Concurrent appends are group-committed:
 * every record queued while one write+fsync is in flight goes out in the next
 * single write and single fsync.
 *
 * A crash (kill -9, power loss) can only damage the end of the file: an
 * unfinished last line, or garbage after the last good line. On open, every
 * bad line at the very end is cut off (the file is truncated to the last good
 * line) and reported; a bad line followed by a good one is real corruption and
 * refuses to start, since guessing there could lose acknowledged registrations.
 */
export class Journal {
  readonly file: string;
  private fd: number;
  /** Records waiting for the next group commit, with their acknowledgements. */
  private queued: { line: string; done: (err: Error | null) => void }[] = [];
  private committing = false;
  private failure: Error | null = null;
  private closed = false;
  private drained: (() => void)[] = [];

  private constructor(file: string, fd: number) {
    this.file = file;
    this.fd = fd;
  }

  /** Opens (creating if needed) the journal in `dataDir` and replays it. Synchronous: it runs once, before listening. */
  static open(dataDir: string, fileName = 'registrations.journal'): { journal: Journal; replay: ReplayReport } {
    fs.mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, fileName);
    const existed = fs.existsSync(file);
    const fd = fs.openSync(file, 'a+');
    try {
      const content = fs.readFileSync(fd);
      const replay = parseJournal(content, file);
      if (replay.tornBytes > 0) {
        fs.ftruncateSync(fd, content.length - replay.tornBytes);
        fs.fsyncSync(fd);
      }
      // A new file is only durable once its directory entry is: fsync the directory too.
      if (!existed) syncDirectory(dataDir);
      return { journal: new Journal(file, fd), replay };
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Queues a record; resolves once it is on disk (written and fdatasync'd). */
  append(record: Registration): Promise<void> {
    if (this.closed) return Promise.reject(new JournalError('journal is closed'));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queued.push({ line: formatRecord(record), done: (err) => (err ? reject(err) : resolve()) });
      if (!this.committing) this.commit();
    });
  }

  /** True once a write or fsync failed: nothing more is accepted (what reached the disk is unknown). */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Waits for queued records to be durable, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.committing) await new Promise<void>((resolve) => this.drained.push(resolve));
    await new Promise<void>((resolve) => fs.close(this.fd, () => resolve()));
  }

  /** One group commit per turn: everything queued so far in one write and one fdatasync. */
  private commit(): void {
    const batch = this.queued;
    if (batch.length === 0) {
      this.committing = false;
      for (const resolve of this.drained.splice(0)) resolve();
      return;
    }
    this.committing = true;
    this.queued = [];
    const bytes = Buffer.from(batch.length === 1 ? batch[0]!.line : batch.map((entry) => entry.line).join(''), 'utf8');
    writeAll(this.fd, bytes, 0, (writeErr) => {
      if (writeErr) return this.fail(batch, writeErr);
      fs.fdatasync(this.fd, (syncErr) => {
        if (syncErr) return this.fail(batch, syncErr);
        for (const entry of batch) entry.done(null);
        this.commit();
      });
    });
  }

  private fail(batch: { done: (err: Error | null) => void }[], cause: Error): void {
    this.failure = new JournalError(`journal write failed: ${cause.message}`);
    for (const entry of batch.concat(this.queued.splice(0))) entry.done(this.failure);
    this.commit();
  }
}

function writeAll(fd: number, bytes: Buffer, offset: number, done: (err: Error | null) => void): void {
  fs.write(fd, bytes, offset, bytes.length - offset, null, (err, written) => {
    if (err) return done(err);
    if (offset + written < bytes.length) return writeAll(fd, bytes, offset + written, done);
    done(null);
  });
}

function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the file's own fsync is then all there is.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The journal line of a record, newline included. */
export function formatRecord(record: Registration): string {
  const json = JSON.stringify({ n: record.n, name: record.name, at: record.at });
  return `${checksum(json)} ${json}\n`;
}

function checksum(json: string): string {
  return crc32(json).toString(16).padStart(8, '0');
}

/** Parses one line (without its newline); null when it is not a well-formed record. */
function parseLine(line: string): Registration | null {
  if (line.length < 10 || line[8] !== ' ') return null;
  const json = line.slice(9);
  if (line.slice(0, 8) !== checksum(json)) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { n, name, at } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(n) || typeof name !== 'string' || typeof at !== 'number') return null;
  return { n: n as number, name, at };
}

/**
 * Reads a whole journal. Bad lines at the end are a torn tail (reported in
 * `tornBytes`); a bad line before a good one, or places out of sequence, throw.
 */
export function parseJournal(content: Buffer, file = 'journal'): ReplayReport {
  const registrations: Registration[] = [];
  let goodEnd = 0;
  let firstBad: number | null = null;
  let start = 0;
  while (start < content.length) {
    const end = content.indexOf(NEWLINE, start);
    // A last line with no newline never finished its write: torn whatever it holds.
    const record = end === -1 ? null : parseLine(content.toString('utf8', start, end));
    if (record === null) {
      firstBad ??= registrations.length + 1;
      if (end === -1) break;
    } else {
      if (firstBad !== null) throw new JournalError(`${file}: line ${firstBad} is damaged but good records follow it; refusing to guess`);
      if (record.n !== registrations.length + 1) throw new JournalError(`${file}: line ${registrations.length + 1} holds place ${record.n}`);
      registrations.push(record);
      goodEnd = end + 1;
    }
    start = end + 1;
  }
  return { registrations, tornBytes: content.length - goodEnd };
}
