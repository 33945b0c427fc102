import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BODY_BYTES_PER_SCAVENGE, bodyBytesDone } from '../../../src/runtime/heap.ts';

/** heap.ts as a child process imports it. */
const HEAP_MODULE = new URL('../../../src/runtime/heap.ts', import.meta.url).href;

/** Runs the ES module `script` in a fresh node with `nodeFlags` (V8 flags stay out of this process); its stdout. */
async function inChild(nodeFlags: string[], script: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', script], { timeout: 50_000 });
  return stdout;
}

describe('heap hints', () => {
  it('scavenges after enough body bytes without exposing gc to the application', () => {
    const hadGc = typeof (globalThis as { gc?: unknown }).gc;
    for (let i = 0; i < 3; i++) bodyBytesDone(BODY_BYTES_PER_SCAVENGE);
    bodyBytesDone(1);
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, hadGc);
  });
});

describe('compactHeap', () => {
  it('runs a full collection and leaves V8 flags and globals as they were', async () => {
    const { compactHeap } = await import('../../../src/runtime/heap.ts');
    const { getHeapStatistics } = await import('node:v8');
    const hadGc = typeof (globalThis as { gc?: unknown }).gc;
    compactHeap();
    assert.ok(getHeapStatistics().used_heap_size > 0);
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, hadGc);
  });
});

describe('limitHeapGrowth', () => {
  it('is accepted by V8 at run time', async () => {
    const { limitHeapGrowth } = await import('../../../src/runtime/heap.ts');
    limitHeapGrowth();
    limitHeapGrowth(); // idempotent
  });
});

describe('checkQuiet', () => {
  it('scavenges only when the interval was quiet and the young generation is over what is kept', async () => {
    const { checkQuiet, QUIET_UTILIZATION, YOUNG_BYTES_KEPT } = await import('../../../src/runtime/heap.ts');
    const decide = (busy: number, youngBytes: number): boolean => {
      let collected = 0;
      let asked = 0;
      const said = checkQuiet(busy, () => (asked++, youngBytes), () => collected++);
      assert.equal(collected, said ? 1 : 0);
      // The young generation's size is only asked for when the interval was quiet.
      assert.equal(asked, busy > QUIET_UTILIZATION ? 0 : 1);
      return said;
    };
    assert.equal(decide(0, 16 * 1024 * 1024), true);
    assert.equal(decide(QUIET_UTILIZATION, YOUNG_BYTES_KEPT + 1), true);
    assert.equal(decide(QUIET_UTILIZATION + 0.001, 16 * 1024 * 1024), false);
    assert.equal(decide(0.9, 16 * 1024 * 1024), false);
    assert.equal(decide(0, YOUNG_BYTES_KEPT), false);
    assert.equal(decide(0, 1024 * 1024), false);
  });
});

describe('shrinkYoungGenerationWhenQuiet', () => {
  it('gives a grown young generation back once the process is quiet (V8 itself, 8 MiB semi-spaces)', { timeout: 60_000 }, async () => {
    // Grows the young generation with objects that survive scavenges, drops them, then reports
    // its size until it is back to at most what is kept (or 12 s pass). V8's memory reducer, which
    // would shrink it too after a while, is off.
    const script = `
      import { shrinkYoungGenerationWhenQuiet, YOUNG_BYTES_KEPT, youngGenerationBytes as young } from ${JSON.stringify(HEAP_MODULE)};
      let keep = [];
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        keep.push({ a: [1, 2, 3], s: 'x'.repeat(20) + keep.length });
        if (keep.length > 20000) keep = keep.slice(10000);
      }
      keep = undefined;
      const grown = young();
      const stop = shrinkYoungGenerationWhenQuiet();
      const started = Date.now();
      const timer = setInterval(() => {
        const now = young();
        if (now <= YOUNG_BYTES_KEPT || Date.now() - started > 12000) {
          clearInterval(timer);
          stop();
          console.log(JSON.stringify({ grown, now, kept: YOUNG_BYTES_KEPT, ms: Date.now() - started }));
        }
      }, 1000);
    `;
    const stdout = await inChild(['--max-semi-space-size=8', '--no-memory-reducer'], script);
    const { grown, now, kept, ms } = JSON.parse(stdout) as { grown: number; now: number; kept: number; ms: number };
    assert.ok(grown > kept, `the young generation grew to ${grown} bytes`);
    // About 6 s here (V8 shrinks once its allocation rate is low); without the hint, not in 12 s.
    assert.ok(now <= kept, `quiet, it went back to ${now} bytes (kept: ${kept}) after ${ms} ms`);
  });
});

describe('sweepArrayBuffersInPause', () => {
  it('frees dead ArrayBuffers within the scavenge that finds them dead', { timeout: 60_000 }, async () => {
    // Twenty times: 4 MiB of body-sized Buffers dropped, a scavenge, then the external bytes still
    // counted. Left to the background job, some rounds still counted most of the 4 MiB here.
    const script = `
      import { sweepArrayBuffersInPause } from ${JSON.stringify(HEAP_MODULE)};
      sweepArrayBuffersInPause();
      const left = [];
      for (let round = 0; round < 20; round++) {
        const before = process.memoryUsage().arrayBuffers;
        let chunks = Array.from({ length: 64 }, () => Buffer.allocUnsafeSlow(64 * 1024));
        chunks = undefined;
        gc({ type: 'minor' });
        left.push(process.memoryUsage().arrayBuffers - before);
      }
      console.log(JSON.stringify(left));
    `;
    const left = JSON.parse(await inChild(['--expose-gc'], script)) as number[];
    assert.ok(left.every((bytes) => bytes < 512 * 1024), `counted after each scavenge: ${left.join(', ')}`);
  });
});
