/**
 * Bounded concurrency for zlib jobs across every connection of the process.
 *
 * Each async zlib call holds a zlib stream's buffers and a libuv threadpool
 * slot; thousands of connections compressing at once would queue thousands of
 * jobs on 4 threads and fragment memory (the problem ws's limiter was made
 * for). Jobs start in FIFO order, at most `concurrency` at a time; a job must
 * call done() exactly once when it finishes. A job that throws is taken as not
 * started: its slot is freed (it must not call done()), the jobs behind it
 * still start, and the error then reaches whoever called add() or done().
 */
export class ZlibLimiter {
  concurrency: number;
  /** Jobs running now. */
  running = 0;
  private queue: Array<() => void> = [];
  private head = 0;
  private draining = false;

  constructor(concurrency: number) {
    this.concurrency = concurrency;
  }

  /** Jobs waiting for a slot. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Runs the job now if a slot is free, else when one frees up. */
  add(job: () => void): void {
    this.queue.push(job);
    this.drain();
  }

  /** A job finished: its slot goes to the oldest waiting job. */
  readonly done = (): void => {
    this.running--;
    this.drain();
  };

  /** Starts waiting jobs while slots are free. A loop, not recursion: a job may call done() synchronously. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    let failure: { error: unknown } | null = null;
    while (this.running < this.concurrency && this.head < this.queue.length) {
      const job = this.queue[this.head]!;
      this.queue[this.head++] = noop;
      this.running++;
      try {
        job();
      } catch (error) {
        // One failing job must not stop every later compression of the process.
        this.running--;
        failure ??= { error };
      }
    }
    this.draining = false;
    this.compact();
    if (failure !== null) throw failure.error;
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      // Compact now and then rather than shift() per job.
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}

function noop(): void {}

/** The process-wide limiter every permessage-deflate codec shares. */
export const zlibLimiter = new ZlibLimiter(10);

/** Changes how many zlib jobs may run at once (default 10, as in ws). */
export function setZlibConcurrency(concurrency: number): void {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('zlib concurrency must be a positive integer');
  zlibLimiter.concurrency = concurrency;
  zlibLimiter.drain();
}
