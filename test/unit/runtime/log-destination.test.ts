import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { compactHeap } from '../../../src/runtime/heap.ts';
import { JOIN_LINES, LogDestination, type LogDestinationOptions, type LogWriter, RETRY_MS } from '../../../src/runtime/log-destination.ts';

const dir = fs.mkdtempSync(join(tmpdir(), 'berth-log-destination-'));
const openFds: number[] = [];
after(() => {
  for (const fd of openFds) {
    try {
      fs.closeSync(fd);
    } catch {
      // closed by the test
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function tempFile(): { path: string; fd: number } {
  const path = join(dir, `file-${files++}`);
  const fd = fs.openSync(path, 'w');
  openFds.push(fd);
  return { path, fd };
}

/** A real pipe (a FIFO), both ends non-blocking, as stdout is once Node has opened it. */
function pipe(): { readFd: number; writeFd: number } {
  const path = join(dir, `fifo-${files++}`);
  execFileSync('mkfifo', [path]);
  const readFd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeFd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  openFds.push(readFd, writeFd);
  return { readFd, writeFd };
}

/** Writes filler into the pipe until it takes no more; returns how much went in. */
function fillPipe(writeFd: number): number {
  const filler = Buffer.alloc(64 * 1024, '.');
  let total = 0;
  for (;;) {
    try {
      total += fs.writeSync(writeFd, filler);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return total;
      throw err;
    }
  }
}

/** Everything the pipe holds now. */
function drainPipe(readFd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    try {
      const n = fs.readSync(readFd, buf);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw err;
    }
  }
  return Buffer.concat(chunks).toString();
}

/** The real writes, each one's bytes recorded. */
function recordingWriter(): LogWriter & { writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    write(fd, buffer, offset, length, done) {
      writes.push(buffer.toString('utf8', offset, offset + length));
      fs.write(fd, buffer, offset, length, null, done);
    },
    writeSync(fd, buffer, offset, length) {
      writes.push(buffer.toString('utf8', offset, offset + length));
      return fs.writeSync(fd, buffer, offset, length);
    },
  };
}

/** A writer whose pipe refuses every write (EAGAIN) until `open` is set; what it took, in order. */
function laggingWriter(): LogWriter & { open: boolean; written: string[] } {
  const w = {
    open: false,
    written: [] as string[],
    write(_fd: number, buffer: Buffer, offset: number, length: number, done: (err: NodeJS.ErrnoException | null, n: number) => void) {
      if (!w.open) return done(Object.assign(new Error('refused'), { code: 'EAGAIN' }), 0);
      w.written.push(buffer.toString('utf8', offset, offset + length));
      done(null, length);
    },
    writeSync(): number {
      throw new Error('not used');
    },
  };
  return w;
}

function destination(fd: number, options: Partial<LogDestinationOptions> = {}) {
  const writer = recordingWriter();
  const notices: string[] = [];
  const log = new LogDestination(fd, { maxLength: 1024 * 1024, writer, notice: (m) => notices.push(m), ...options });
  return { log, writes: writer.writes, notices };
}

/** Polls until `probe` holds (bounded by attempts, not by timing assertions). */
async function eventually(what: string, probe: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if (probe()) return;
    await sleep(5);
  }
  throw new Error(`gave up waiting for ${what}`);
}

const lines = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `{"msg":"${prefix} ${i}"}\n`);

describe('LogDestination', () => {
  it('counts a queued line by its characters, a line taken into a write by its bytes, and nothing once all is written', async () => {
    const writer = laggingWriter();
    const log = new LogDestination(99, { maxLength: 100, writer, notice: () => {} });
    const line = 'ééééé\n'; // 6 characters, 11 bytes
    for (let i = 0; i < 16; i++) assert.equal(log.write(line), true);
    assert.equal(log.write(line), false, '102 characters would be past maxLength');
    await nextTurn(); // the 16 lines are taken into a write (176 bytes), which the pipe refuses
    assert.equal(log.write('x\n'), false, 'the refused write counts its bytes');
    writer.open = true;
    await eventually('the retried write', () => writer.written.length > 0);
    assert.equal(writer.written.join(''), line.repeat(16));
    for (let i = 0; i < 16; i++) assert.equal(log.write(line), true, 'nothing is left counted once all was written');
    assert.equal(log.write(line), false);
  });

  it('writes the lines of one event-loop turn with one write, after that turn', async () => {
    const { path, fd } = tempFile();
    const { log, writes } = destination(fd);
    for (const line of ['a\n', 'b\n', 'c\n']) assert.equal(log.write(line), true);
    assert.deepEqual(writes, [], 'nothing written while the turn runs');
    await eventually('the lines', () => fs.readFileSync(path, 'utf8') === 'a\nb\nc\n');
    assert.deepEqual(writes, ['a\nb\nc\n']);
  });

  it('sends the lines queued while a write is in flight together, in the next write', async () => {
    const { path, fd } = tempFile();
    const { log, writes } = destination(fd);
    log.write('a\n');
    await nextTurn(); // the destination's write started this turn; its callback cannot have run yet
    assert.deepEqual(writes, ['a\n'], 'one write in flight');
    for (const line of ['b\n', 'c\n', 'd\n']) log.write(line);
    await eventually('the lines', () => fs.readFileSync(path, 'utf8') === 'a\nb\nc\nd\n');
    assert.deepEqual(writes, ['a\n', 'b\nc\nd\n']);
  });

  it('keeps lines a full pipe refuses and writes them once it is read, dropping those past maxLength', async () => {
    const { readFd, writeFd } = pipe();
    const filled = fillPipe(writeFd);
    const line = `${'x'.repeat(99)}\n`;
    const { log, writes, notices } = destination(writeFd, { maxLength: 10 * line.length });
    const accepted = Array.from({ length: 25 }, () => log.write(line));
    assert.deepEqual(accepted, [...Array(10).fill(true), ...Array(15).fill(false)]);
    assert.equal(log.dropped, 15);
    assert.equal(notices.length, 1, 'the first drop is reported, once');
    assert.match(notices[0]!, /dropping lines until it catches up/);
    await sleep(3 * RETRY_MS);
    assert.ok(writes.length >= 2, `the refused write was retried on a timer (${writes.length} attempts)`);
    assert.equal(log.write(line), false, 'still full: the queue is bounded');

    let received = drainPipe(readFd);
    assert.equal(received.length, filled);
    await eventually('the queued lines', () => (received += drainPipe(readFd)).length === filled + 10 * line.length);
    assert.equal(received.slice(filled), line.repeat(10));
    assert.equal(log.broken, false);
    // The bytes are in the pipe a moment before the write's callback frees their room in the queue.
    await eventually('room again once written', () => log.write('after\n'));
    await eventually('the next line', () => (received += drainPipe(readFd)).endsWith('after\n'));
    assert.equal(notices.length, 2, 'and the end of the drops, with their count');
    // 16 above, plus any of the polls for room that came before the queue had drained.
    const reported = Number(/^(\d+) log lines were dropped/.exec(notices[1]!)?.[1]);
    assert.ok(reported >= 16 && reported <= log.dropped, `${reported} reported, ${log.dropped} dropped`);
  });

  it('stops for good when the reader of its pipe is gone (EPIPE): later writes are no-ops', async () => {
    const { readFd, writeFd } = pipe();
    fs.closeSync(readFd);
    const { log, writes, notices } = destination(writeFd);
    log.write('first\n');
    await eventually('the broken pipe to be noticed', () => log.broken);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /EPIPE/);
    const attempts = writes.length;
    assert.equal(log.write('second\n'), false);
    await sleep(3 * RETRY_MS);
    log.flushSync();
    assert.equal(writes.length, attempts, 'no write after the pipe broke');
    assert.equal(notices.length, 1, 'said once');
  });

  it('stops for good on any other write error too (EBADF: a descriptor not open for writing)', async () => {
    const { path } = tempFile();
    const readOnly = fs.openSync(path, 'r');
    openFds.push(readOnly);
    const { log, notices } = destination(readOnly);
    log.write('line\n');
    await eventually('the error to be noticed', () => log.broken);
    assert.match(notices[0]!, /EBADF/);
    assert.equal(log.write('line\n'), false);
  });

  /** An access line as pino's fast path builds it: a tree of pieces, not one flat string. */
  const accessLine = (i: number): string => `{"level":30,"time":${1_700_000_000_000 + i},"traceId":"${(0x1000000 + i).toString(16).padStart(24, '0')}","url":"/v2/app/manifests/v${i % 97}","ms":${i % 7}}\n`;

  it('writes every line, in order, after joining the lines queued while stdout lagged', async () => {
    const writer = laggingWriter();
    const log = new LogDestination(99, { maxLength: 16 * 1024 * 1024, writer, notice: () => {} });
    const expected = Array.from({ length: 3 * JOIN_LINES + 5 }, (_, i) => accessLine(i));
    for (const line of expected.slice(0, JOIN_LINES + 1)) log.write(line);
    await nextTurn(); // the first lines go into a write the pipe refuses; the rest queue behind it
    for (const line of expected.slice(JOIN_LINES + 1)) log.write(line);
    writer.open = true;
    await eventually('every line', () => writer.written.join('').length === expected.join('').length);
    assert.equal(writer.written.join(''), expected.join(''));
    const more = Array.from({ length: JOIN_LINES }, (_, i) => accessLine(i)); // once the queue has emptied
    for (const line of more) log.write(line);
    await eventually('the lines queued after', () => writer.written.join('').length === expected.join('').length + more.join('').length);
    assert.equal(writer.written.join(''), expected.join('') + more.join(''));
  });

  it('holds about the characters of the lines it queues while stdout lags, not twice as much', () => {
    const log = new LogDestination(99, { maxLength: 64 * 1024 * 1024, writer: laggingWriter(), notice: () => {} });
    compactHeap(); // a full collection
    const before = getHeapStatistics().used_heap_size;
    let chars = 0;
    for (let i = 0; i < 40_000; i++) {
      const line = accessLine(i);
      chars += line.length;
      log.write(line);
    }
    compactHeap(); // a full collection
    const held = getHeapStatistics().used_heap_size - before;
    assert.ok(held < 1.3 * chars, `${held} bytes of heap for ${chars} characters of lines`);
  });

  describe('flushSync (the exit flush)', () => {
    it('writes what is queued to a file, synchronously', () => {
      const { path, fd } = tempFile();
      const { log } = destination(fd);
      const expected = lines('exit', 1000);
      for (const line of expected) log.write(line);
      log.flushSync();
      assert.equal(fs.readFileSync(path, 'utf8'), expected.join(''));
    });

    it('leaves a batch in flight to the thread pool and writes what is queued behind it', async () => {
      const { readFd, writeFd } = pipe();
      const { log } = destination(writeFd);
      log.write('in flight\n');
      await nextTurn();
      log.write('queued 1\n');
      log.write('queued 2\n');
      log.flushSync();
      let received = drainPipe(readFd);
      await eventually('the batch in flight', () => (received += drainPipe(readFd)).length === 'in flight\nqueued 1\nqueued 2\n'.length);
      assert.deepEqual(received.split('\n').filter(Boolean).sort(), ['in flight', 'queued 1', 'queued 2']);
    });

    it('writes the rest of a batch the pipe refused, then the queue', async () => {
      const { readFd, writeFd } = pipe();
      const filled = fillPipe(writeFd);
      const { log } = destination(writeFd);
      log.write('refused\n');
      await sleep(RETRY_MS / 2); // refused once, waiting for its retry
      log.write('queued\n');
      assert.equal(drainPipe(readFd).length, filled);
      log.flushSync();
      assert.equal(drainPipe(readFd), 'refused\nqueued\n');
    });

    it('returns at once on a broken pipe', () => {
      const { readFd, writeFd } = pipe();
      fs.closeSync(readFd);
      const { log, notices } = destination(writeFd);
      for (const line of lines('lost', 100)) log.write(line);
      const started = performance.now();
      log.flushSync();
      const tookMs = performance.now() - started;
      assert.ok(tookMs < 100, `took ${tookMs} ms`);
      assert.equal(log.broken, true);
      assert.equal(notices.length, 1);
      assert.match(notices[0]!, /EPIPE/);
    });

    it('gives up on a pipe that stays full after its bound, and says so once', () => {
      const { writeFd } = pipe();
      fillPipe(writeFd);
      const { log, notices } = destination(writeFd);
      for (const line of lines('stuck', 100)) log.write(line);
      const started = performance.now();
      log.flushSync(200);
      const tookMs = performance.now() - started;
      assert.ok(tookMs >= 190 && tookMs < 1000, `bounded by its 200 ms: took ${tookMs} ms`);
      assert.equal(notices.length, 1);
      assert.match(notices[0]!, /200 ms/);
    });

    it('reports lines dropped since the last report before giving up', () => {
      const { writeFd } = pipe();
      fillPipe(writeFd);
      const line = `${'y'.repeat(49)}\n`;
      const { log, notices } = destination(writeFd, { maxLength: 4 * line.length });
      for (let i = 0; i < 10; i++) log.write(line);
      log.flushSync(20);
      assert.deepEqual(notices.map((n) => n.replace(/\d+ ms/, 'N ms').slice(0, 40)), [
        'stdout is not taking log lines as fast a',
        '6 log lines were dropped while stdout wa',
        'stdout did not take the last 200 bytes o',
      ]);
    });
  });
});
