import { closeSync, fdatasync, writev, writevSync } from 'node:fs';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { bodyBytesDone, bodyEnded } from '../../runtime/heap.ts';

const writevAsync = promisify(writev);
const fdatasyncAsync = promisify(fdatasync);

/**
 * A body whose writes stay within this size in all is written synchronously: copying a few KiB
 * into the page cache takes microseconds, less than handing the write to libuv's thread pool and
 * back. Past it, every write goes to the pool, so the kernel copies while the event loop reads
 * and hashes the next chunks, which gather meanwhile into one writev. Counting per write instead
 * let a large body arrive as 64 KiB socket chunks, each written synchronously: a 1 GiB push
 * spent 2.1 s of its event loop in those writes (slower than usual while a background flush of
 * the same file runs), reading nothing from the socket meanwhile.
 */
const SYNC_WRITE_MAX = 64 * 1024;

/** Bytes between background flushes of a growing upload file. */
export const SYNC_EVERY = 64 * 1024 * 1024;

export interface FileAppenderOptions {
  /** Bytes between background flushes (default SYNC_EVERY). */
  syncEvery?: number;
  highWaterMark?: number;
  /** fdatasync when the stream ends, on the descriptor already open (saves an open at commit). */
  syncAtEnd?: boolean;
  /** Told when a background flush fails, also after the stream closed (see FileAppender); must not throw. */
  onFlushError?: (err: Error) => void;
  /** Flushes the descriptor's written bytes to the disk (default fdatasync); tests fail it. */
  flush?: (fd: number) => Promise<void>;
}

/**
 * Writes a stream into an open file from `position` on, gathering queued chunks into one
 * writev. Each time the file crosses a multiple of `syncEvery` bytes it starts an fdatasync in
 * the background, so the kernel writes dirty pages back while more bytes arrive and the fsync
 * that makes the finished blob durable (at commit) has little left to flush. These flushes are
 * an optimisation only: durability still comes from that final fsync, except when one fails.
 * Linux reports a write-back error to one fsync per descriptor, and not to a descriptor opened
 * after it was reported: the fsync at commit would then succeed over bytes that never reached the
 * disk. So a failed flush fails the stream (when it is still open) and is told to `onFlushError`
 * (also after it closed), whose owner must no longer trust the file. The file descriptor is
 * owned by the appender and closed when the stream ends or fails, after the write in flight:
 * once it has emitted 'close', the file's size no longer changes (Node calls _destroy without
 * waiting for a pending _write, and a write to a closed and reused descriptor would land in
 * another file). A background flush still running then keeps the descriptor until it is done.
 */
export class FileAppender extends Writable {
  bytesWritten = 0;
  private syncing: Promise<void> | undefined;
  private writing: Promise<void> | undefined;
  /** The first background flush that failed: the file's bytes are then not known to be on disk. */
  private flushError: Error | undefined;
  private readonly syncEvery: number;
  private readonly syncAtEnd: boolean;
  private readonly flush: (fd: number) => Promise<void>;
  private readonly onFlushError: ((err: Error) => void) | undefined;

  /** Whether the bytes were synced (fdatasync) before the descriptor closed: see `syncAtEnd`. */
  synced = false;

  constructor(
    private readonly fd: number,
    private position: number,
    options: FileAppenderOptions = {},
  ) {
    super({ highWaterMark: options.highWaterMark ?? 1024 * 1024 });
    this.syncEvery = options.syncEvery ?? SYNC_EVERY;
    this.syncAtEnd = options.syncAtEnd ?? false;
    this.flush = options.flush ?? fdatasyncAsync;
    this.onFlushError = options.onFlushError;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.track(this.writeAll([chunk]), done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.track(this.writeAll(chunks.map((c) => c.chunk)), done);
  }

  private track(write: Promise<void>, done: (err?: Error | null) => void): void {
    this.writing = write;
    write.then(
      () => {
        this.writing = undefined;
        done();
      },
      (err: Error) => {
        this.writing = undefined;
        done(err);
      },
    );
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    let pending = buffers;
    while (pending.length > 0 && !this.destroyed) {
      if (this.flushError) throw this.flushError; // no use writing more to a file that lost bytes
      const total = pending.reduce((n, b) => n + b.length, 0);
      const bytesWritten = this.bytesWritten + total <= SYNC_WRITE_MAX ? writevSync(this.fd, pending, this.position) : (await writevAsync(this.fd, pending, this.position)).bytesWritten;
      this.advance(bytesWritten);
      if (bytesWritten >= total) return;
      pending = skip(pending, bytesWritten); // a short write: continue with the rest
    }
  }

  private advance(n: number): void {
    const before = this.position;
    this.position += n;
    this.bytesWritten += n;
    bodyBytesDone(n);
    if (this.syncing === undefined && Math.floor(before / this.syncEvery) !== Math.floor(this.position / this.syncEvery)) {
      this.syncing = this.flush(this.fd).then(
        () => { this.syncing = undefined; },
        (err: Error) => {
          this.syncing = undefined;
          this.flushError ??= err;
          this.onFlushError?.(err);
        },
      );
    }
  }

  override _final(done: (err?: Error | null) => void): void {
    bodyEnded();
    if (this.flushError) return done(this.flushError);
    if (!this.syncAtEnd) return done();
    void (async () => {
      await this.syncing;
      if (this.flushError) throw this.flushError; // this descriptor's fdatasync would not report it again
      await this.flush(this.fd);
      this.synced = true;
    })().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    void (async () => {
      await this.writing?.catch(() => {}); // its error, if any, is reported by its own callback
      const syncing = this.syncing;
      if (syncing === undefined) return closeSync(this.fd);
      // A background flush changes no byte of the file: the stream closes now, and the descriptor
      // once the flush is done. Waiting for it held the answer to a chunked upload's PATCH for as
      // long as the disk took to write the last SYNC_EVERY bytes, so no chunk arrived meanwhile.
      const fd = this.fd;
      void syncing.finally(() => closeQuietly(fd));
    })().then(() => done(err), (closeErr: Error) => done(err ?? closeErr));
  }
}

/** Closes a descriptor nobody waits on; a failed flush has been told to onFlushError already. */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing to tell: see above
  }
}

function skip(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}
