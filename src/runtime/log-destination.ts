import fs from 'node:fs';

/** The two writes a LogDestination makes; replaceable to observe them (tests). */
export interface LogWriter {
  write(fd: number, buffer: Buffer, offset: number, length: number, done: (err: NodeJS.ErrnoException | null, written: number) => void): void;
  writeSync(fd: number, buffer: Buffer, offset: number, length: number): number;
}

export interface LogDestinationOptions {
  /**
   * Size of the log lines waiting to be written beyond which new lines are dropped: characters
   * for lines still queued, bytes once they are taken into a write (the same for ASCII lines).
   */
  maxLength: number;
  /** How long flushSync() (the exit flush) keeps retrying a full pipe, in total. Default EXIT_FLUSH_MS. */
  exitFlushMs?: number;
  /** Told once, when logging stops for good or the exit flush gives up. Default: one line on stderr, best effort. */
  notice?: (message: string) => void;
  writer?: LogWriter;
}

/** The default bound of the exit flush: a pipe nobody reads must not keep the process from exiting. */
export const EXIT_FLUSH_MS = 1000;
/** Delay before retrying a write the pipe refused (EAGAIN): a timer, never a busy wait. */
export const RETRY_MS = 50;
/** At most this many characters go into one write; the rest wait for the next. */
const MAX_BATCH = 1024 * 1024;
/** Queued lines after which the newest are joined into one string (see joinNewest). */
export const JOIN_LINES = 256;
/** Sleep between attempts of the exit flush on a full pipe. */
const EXIT_RETRY_MS = 10;

const fsWriter: LogWriter = {
  write: (fd, buffer, offset, length, done) => fs.write(fd, buffer, offset, length, null, done),
  writeSync: (fd, buffer, offset, length) => fs.writeSync(fd, buffer, offset, length),
};

/** Writes to fd 2 without ever blocking or throwing: a notice about stdout must not fail on a broken stderr. */
function stderrNotice(message: string): void {
  try {
    fs.writeSync(2, `berth: ${message}\n`);
  } catch {
    // stderr is gone or full too: nobody would read it
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * A pino destination on a file descriptor that can never keep the process from exiting.
 *
 * write() queues the line; the queue is written asynchronously (the thread pool's fs.write), and
 * lines queued in the same event-loop turn or while a write is in flight go out together in the
 * next write. A full pipe (EAGAIN) is retried on a timer. Past `maxLength` queued (characters,
 * then bytes), lines are dropped, with a notice when a run of drops starts and one with its
 * count when it ends. Any other error (EPIPE, EBADF, ...) stops logging for good: later writes
 * are no-ops.
 * flushSync() writes what is queued, retrying a full pipe for at most `exitFlushMs`.
 *
 * For a pipe or socket the descriptor must be in non-blocking mode: a write the thread pool is
 * blocked in keeps the process from exiting (libuv joins its threads at exit).
 */
export class LogDestination {
  /** Lines dropped because the queue was full. */
  dropped = 0;
  /** `dropped` when the current run of drops began; undefined while none are being dropped. */
  private droppingSince: number | undefined;
  /** True once a write failed with an error other than EAGAIN: logging has stopped. */
  broken = false;

  private readonly fd: number;
  private readonly maxLength: number;
  private readonly exitFlushMs: number;
  private readonly notice: (message: string) => void;
  private readonly writer: LogWriter;
  private queue: string[] = [];
  /** How many of the queue's first entries are joined lines (joinNewest); the rest are single lines. */
  private joined = 0;
  /**
   * What is waiting: the queue's characters plus the bytes left of `batch`. Characters, because
   * Buffer.byteLength on every line was a third of the cost of an access line; a line's bytes are
   * counted once it is encoded for a write.
   */
  private queued = 0;
  /** The bytes being written (in flight, or refused and waiting for a retry), from `offset`. */
  private batch: Buffer | undefined;
  private offset = 0;
  private inFlight = false;
  /** A write is due on the next turn. */
  private dueNextTurn: NodeJS.Immediate | undefined;
  /** A write is due again after the pipe refused it. */
  private dueRetry: NodeJS.Timeout | undefined;

  constructor(fd: number, options: LogDestinationOptions) {
    this.fd = fd;
    this.maxLength = options.maxLength;
    this.exitFlushMs = options.exitFlushMs ?? EXIT_FLUSH_MS;
    this.notice = options.notice ?? stderrNotice;
    this.writer = options.writer ?? fsWriter;
  }

  /** Queues one line (pino passes it with its newline). False when it was dropped or logging has stopped. */
  write(line: string): boolean {
    if (this.broken) return false;
    if (this.queued + line.length > this.maxLength) {
      if (this.droppingSince === undefined) {
        this.droppingSince = this.dropped;
        this.notice(`stdout is not taking log lines as fast as they come: ${this.maxLength} bytes are queued; dropping lines until it catches up`);
      }
      this.dropped++;
      return false;
    }
    this.queue.push(line);
    this.queued += line.length;
    if (this.queue.length - this.joined >= JOIN_LINES) this.joinNewest();
    if (!this.inFlight && !this.isDue()) this.dueNextTurn = setImmediate(this.writeNext);
    return true;
  }

  /**
   * Writes what is queued synchronously, for the exit hook: returns once all of it is written,
   * the descriptor is found broken, or it refused bytes (full pipe) for `timeoutMs` in total.
   * A batch already in flight is left to the thread pool, which finishes it before the process ends.
   */
  flushSync(timeoutMs = this.exitFlushMs): void {
    if (this.broken) return;
    if (this.droppingSince !== undefined) this.reportDropped();
    this.cancelDue();
    const parts: Buffer[] = [];
    if (this.batch && !this.inFlight) {
      const rest = this.batch.subarray(this.offset);
      parts.push(rest);
      this.queued -= rest.length;
      this.batch = undefined;
    }
    if (this.queue.length > 0) {
      const text = this.queue.join('');
      parts.push(Buffer.from(text));
      this.queued -= text.length;
    }
    this.queue = [];
    this.joined = 0;
    const bytes = Buffer.concat(parts);
    const deadline = performance.now() + timeoutMs;
    let offset = 0;
    while (offset < bytes.length) {
      try {
        const n = this.writer.writeSync(this.fd, bytes, offset, bytes.length - offset);
        offset += n;
        if (n > 0) continue;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.stop(err as NodeJS.ErrnoException);
          return;
        }
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        this.notice(`stdout did not take the last ${bytes.length - offset} bytes of log lines within ${timeoutMs} ms; dropped`);
        return;
      }
      sleepSync(Math.min(EXIT_RETRY_MS, left));
    }
  }

  /** Ends a run of drops with the count, once the queue has room again (or at exit). */
  private reportDropped(): void {
    this.notice(`${this.dropped - this.droppingSince!} log lines were dropped while stdout was not keeping up`);
    this.droppingSince = undefined;
  }

  private readonly writeNext = (): void => {
    this.cancelDue();
    if (this.broken || this.inFlight) return;
    if (!this.batch) {
      if (this.queue.length === 0) return;
      const text = this.takeBatch();
      this.batch = Buffer.from(text);
      this.offset = 0;
      this.queued += this.batch.length - text.length; // its characters were counted, now its bytes are
    }
    this.inFlight = true;
    this.writer.write(this.fd, this.batch, this.offset, this.batch.length - this.offset, this.written);
  };

  private readonly written = (err: NodeJS.ErrnoException | null, n: number): void => {
    this.inFlight = false;
    if (this.broken) return;
    if (err) {
      if (err.code === 'EAGAIN') {
        // The pipe is full: try again later, without holding the event loop.
        this.dueRetry = setTimeout(this.writeNext, RETRY_MS).unref();
        return;
      }
      this.stop(err);
      return;
    }
    if (!this.batch) return;
    this.offset += n;
    this.queued -= n;
    if (this.offset >= this.batch.length) this.batch = undefined;
    if (this.droppingSince !== undefined && this.queued <= this.maxLength / 2) this.reportDropped();
    // Lines queued while this write was in flight go out together, now.
    if (!this.isDue() && (this.batch || this.queue.length > 0)) this.writeNext();
  };

  /**
   * Joins the lines queued since the last join into one string. A line as pino builds it is a
   * tree of pieces (a cons string) that took about twice its characters of heap: an access line
   * of 192 characters held 380 bytes, so a stdout that lags held twice maxLength. Joined, the
   * queue holds about its characters. A stdout that keeps up never lets JOIN_LINES gather.
   */
  private joinNewest(): void {
    this.queue.push(this.queue.splice(this.joined).join(''));
    this.joined++;
  }

  /** The queue's first entries, up to MAX_BATCH characters (at least one entry). */
  private takeBatch(): string {
    let chars = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || chars + this.queue[count]!.length <= MAX_BATCH)) {
      chars += this.queue[count]!.length;
      count++;
    }
    const lines = count === this.queue.length ? this.queue : this.queue.slice(0, count);
    this.queue = count === this.queue.length ? [] : this.queue.slice(count);
    this.joined = Math.max(0, this.joined - count);
    return lines.join('');
  }

  private isDue(): boolean {
    return this.dueNextTurn !== undefined || this.dueRetry !== undefined;
  }

  private cancelDue(): void {
    clearImmediate(this.dueNextTurn);
    clearTimeout(this.dueRetry);
    this.dueNextTurn = undefined;
    this.dueRetry = undefined;
  }

  /** Logging stops for good: the queue is let go and later writes are no-ops. */
  private stop(err: NodeJS.ErrnoException): void {
    this.broken = true;
    this.cancelDue();
    this.queue = [];
    this.joined = 0;
    this.batch = undefined;
    this.queued = 0;
    this.notice(`stdout cannot be written (${err.code ?? err.message}); logging stopped`);
  }
}

function isPipeOrSocket(fd: number): boolean {
  try {
    const stats = fs.fstatSync(fd);
    return stats.isFIFO() || stats.isSocket();
  } catch {
    return false;
  }
}

/**
 * The process's log destination on stdout (a file, a pipe or a TTY), flushed (bounded) when the
 * process exits, also after an uncaught exception.
 */
export function stdoutLogDestination(options: LogDestinationOptions): LogDestination {
  // libuv puts a pipe or socket in non-blocking mode when Node first opens process.stdout or
  // process.stderr on it; a full pipe then refuses a write (EAGAIN) instead of blocking in it.
  if (isPipeOrSocket(1)) void process.stdout;
  if (isPipeOrSocket(2)) void process.stderr;
  const destination = new LogDestination(1, options);
  process.on('exit', () => destination.flushSync());
  return destination;
}
