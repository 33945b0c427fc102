import { read } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

/** Size of each read when the stream is consumed the ordinary way (data events, async iteration). */
const READ_CHUNK = 1024 * 1024;
/** Size of each buffer a download into an HTTP response reads into. */
export const PUMP_CHUNK = 256 * 1024;
/**
 * Downloads in progress up to which a download takes a second buffer: two let a lone download
 * read the next chunk while the socket sends the last; many at once keep the CPU and the link
 * busy with one each. Every download always gets one, so none ever waits for another.
 */
export const DOUBLE_BUFFER_LIMIT = 8;
/**
 * Idle pump buffers kept for later downloads (16 MiB at most). Buffers dropped instead would
 * wait for a GC, which a download barely triggers (it allocates little on the JS heap), while
 * the next downloads allocate new ones: RSS would grow with each burst.
 */
const POOL_MAX = 64;
const pool: Buffer[] = [];
let pumps = 0;

/** Only once the socket is done with `buffer` (its write callback ran without error), or never handed to it. */
function release(buffer: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buffer);
}

/**
 * A byte range of an open file as a Readable; the handle is closed when the stream ends or is
 * destroyed. Consumed the ordinary way, every chunk is a fresh buffer (consumers may keep them).
 *
 * Piped into an HTTP response (what Fastify does with `reply.send(stream)`), it instead reads
 * into one or two PUMP_CHUNK buffers and reuses each only after the response's write callback
 * says the socket is done with it: a download holds at most 512 KiB however fast or slow the
 * client is, and 32 concurrent downloads about 10 MiB. The buffers come from a process-wide pool
 * and go back to it, so downloads allocate nothing per chunk nor per request; the pump runs on
 * callbacks (fs.read on the descriptor, the write callback), no promise per chunk: promises
 * raced per chunk lived as long as the download and grew the old generation by about 20 MiB
 * over 32 concurrent pulls of 64 MiB. fs.createReadStream allocated a new 1 MiB buffer per
 * chunk; with 32 concurrent downloads that churn (page faults of fresh mappings, garbage
 * awaiting GC) cost throughput and about 150 MiB of RSS.
 */
export class FileReadStream extends Readable {
  private position: number;
  private readonly endExclusive: number;
  private pumping = false;
  // Pump state: the response, buffers not in use, buffers handed to the response in write order.
  private res: ServerResponse | undefined;
  private endResponse = true;
  private readonly idle: Buffer[] = [];
  private readonly writing: Buffer[] = [];
  private owned = 0;
  private reading: Buffer | undefined;
  private finished = false;
  /** Set by _destroy while a pump read is in flight: the handle closes once that read returns. */
  private closeAfterRead: (() => void) | undefined;

  /** `end` is inclusive, as in fs.createReadStream; undefined reads to the end of the file. */
  constructor(
    private readonly handle: FileHandle,
    start = 0,
    end: number | undefined = undefined,
    signal?: AbortSignal,
  ) {
    super({ highWaterMark: READ_CHUNK, ...(signal ? { signal } : {}) });
    this.position = start;
    this.endExclusive = end === undefined ? Number.MAX_SAFE_INTEGER : end + 1;
    this.onRead = this.onRead.bind(this);
    this.onWritten = this.onWritten.bind(this);
  }

  override _read(size: number): void {
    const want = Math.min(Math.max(size, READ_CHUNK), this.endExclusive - this.position);
    if (want <= 0) {
      this.push(null);
      return;
    }
    const buffer = Buffer.allocUnsafeSlow(want);
    this.handle.read(buffer, 0, want, this.position).then(
      ({ bytesRead }) => {
        if (bytesRead === 0) {
          if (this.endExclusive !== Number.MAX_SAFE_INTEGER) this.destroy(shortFile());
          else this.push(null);
          return;
        }
        this.position += bytesRead;
        this.push(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (this.pumping) pumps--;
    for (const b of this.idle.splice(0)) release(b);
    const close = (): void => {
      this.handle.close().then(() => done(err), (closeErr: Error) => done(err ?? closeErr));
    };
    // A pump read works on the raw descriptor, which the handle does not know about: closing
    // under it could let the number be reused while the read is still queued.
    if (this.reading) this.closeAfterRead = close;
    else close();
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    // Only a fresh stream into an HTTP response takes the pump: its write callback means the
    // socket no longer needs the buffer. Any other sink (a Transform, a PassThrough) may keep it.
    if (!(destination instanceof ServerResponse) || this.pumping || this.readableFlowing !== null || this.readableLength > 0) {
      return super.pipe(destination, options);
    }
    this.pumping = true;
    pumps++;
    this.res = destination;
    this.endResponse = options?.end !== false;
    destination.emit('pipe', this);
    this.pumpNext();
    return destination;
  }

  /** Starts the next read when no read runs and a buffer is free; finishes at the end of the range. */
  private pumpNext(): void {
    if (this.destroyed || this.reading) return;
    if (this.position >= this.endExclusive) {
      this.finish();
      return;
    }
    let buffer = this.idle.pop();
    if (!buffer) {
      // All in flight: onWritten calls again.
      if (this.owned === 2 || (this.owned === 1 && pumps > DOUBLE_BUFFER_LIMIT)) return;
      buffer = pool.pop() ?? Buffer.allocUnsafeSlow(PUMP_CHUNK);
      this.owned++;
    }
    this.reading = buffer;
    read(this.handle.fd, buffer, 0, Math.min(buffer.length, this.endExclusive - this.position), this.position, this.onRead);
  }

  private onRead(err: NodeJS.ErrnoException | null, bytesRead: number): void {
    const buffer = this.reading!;
    this.reading = undefined;
    if (this.closeAfterRead || this.destroyed) {
      release(buffer); // never handed to the response
      this.closeAfterRead?.();
      return;
    }
    if (err) {
      this.idle.push(buffer);
      this.destroy(err);
      return;
    }
    if (bytesRead === 0) {
      this.idle.push(buffer);
      if (this.endExclusive !== Number.MAX_SAFE_INTEGER) this.destroy(shortFile());
      else this.finish();
      return;
    }
    this.position += bytesRead;
    this.writing.push(buffer);
    this.res!.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead), this.onWritten);
    this.pumpNext();
  }

  /** A write callback (in write order): the socket no longer needs the oldest buffer in flight. */
  private onWritten(err?: Error | null): void {
    const buffer = this.writing.shift();
    // A cut response may call back out of order (or not at all): its buffers are left to the GC.
    if (err || !buffer) return;
    if (this.destroyed || this.finished) {
      release(buffer);
      return;
    }
    this.idle.push(buffer);
    this.pumpNext();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    for (const b of this.idle.splice(0)) release(b);
    // As pipe does: the source ends first, then the destination.
    if (this.endResponse) this.once('end', () => this.res!.end());
    this.push(null);
    this.resume();
  }
}

function shortFile(): Error {
  return new Error('the file ended before the requested range did');
}
