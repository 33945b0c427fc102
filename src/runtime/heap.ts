import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Hints to V8's garbage collector where Berth knows better than its heuristics. Process-wide;
 * V8's gc() is fetched once through a fresh context, so the application never sees a global gc.
 */

type GcFunction = (options?: { type?: 'minor' | 'major' }) => void;

let gcFunction: GcFunction | undefined;

function v8Gc(): GcFunction {
  if (!gcFunction) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as GcFunction;
    setFlagsFromString('--no-expose-gc');
  }
  return gcFunction;
}

/** Bytes of received request bodies between two young-generation collections. */
export const BODY_BYTES_PER_SCAVENGE = 4 * 1024 * 1024;
let bodyBytes = 0;

/**
 * Counts request body bytes a writer is done with, and runs a scavenge (a young-generation
 * collection, well under a millisecond with the 2 MiB semi-space) every
 * BODY_BYTES_PER_SCAVENGE of them.
 *
 * Node's HTTP parser copies each body chunk (up to 64 KiB) into its own malloc'd buffer, freed
 * only when a GC finds the Buffer dead. A streaming upload allocates almost nothing on the JS
 * heap, so scavenges are rare, and V8 starts a GC for external memory only past 64 MiB: the dead
 * chunks piled up to about that, scattered through glibc's heap, which then could not give the
 * pages back. A 64 MiB push left RSS 33 MiB higher; with this, 4-5 MiB.
 */
export function bodyBytesDone(n: number): void {
  bodyBytes += n;
  if (bodyBytes >= BODY_BYTES_PER_SCAVENGE) scavengeBodies();
}

function scavengeBodies(): void {
  bodyBytes = 0;
  v8Gc()({ type: 'minor' });
}

/** Body bytes left since the last scavenge above which the end of a body runs one (see bodyEnded). */
export const BODY_BYTES_AT_END = 1024 * 1024;

/**
 * A writer has received a whole body. The chunks since the last scavenge (up to
 * BODY_BYTES_PER_SCAVENGE) would otherwise stay allocated until the next GC, which a quiet
 * server may not run for a long time; when they are at least BODY_BYTES_AT_END, they are freed
 * now. Small bodies (a config, a 4 KiB layer) wait for the count as before.
 */
export function bodyEnded(): void {
  if (bodyBytes >= BODY_BYTES_AT_END) scavengeBodies();
}

/**
 * A full collection that compacts the old generation, so that pages left sparse by start-up
 * (module loading, route and schema compilation) go back to the system.
 */
export function compactHeap(): void {
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    v8Gc()();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

/** The old generation may grow to this much above what survived the last full GC before the next. */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Caps V8's old-generation growth between full GCs. V8 picks a factor of up to 4 for a process
 * allowed gigabytes of heap: after start-up's 18 MiB survived, the old generation grew to 75 MiB
 * under small requests before V8 collected it, and the pages stayed. Read by V8 at every full GC,
 * so setting it at run time works for every way of starting Berth.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/**
 * Frees dead ArrayBuffers' memory (request body chunks, above all) within the young-generation
 * collection that finds them dead, instead of in a background job after it.
 *
 * V8 counts external memory allocated since the last full GC against the old generation's limit,
 * and schedules a full (incremental) GC once what is left under the limit falls to the young
 * generation's capacity. With the old generation's growth capped (limitHeapGrowth) about 10 MiB
 * are left after a full GC, so about 8 MiB of external memory starts one. During an upload the
 * chunks freed by one scavenge (BODY_BYTES_PER_SCAVENGE) were still counted while the next 4 MiB
 * arrived, because the background job subtracts them only once it is finalized: a 1 GiB push ran
 * 6-16 full GCs, each marking the whole heap. Freed in the pause, 2-3. Read by V8 at every
 * collection, so setting it at run time works for every way of starting Berth.
 */
export function sweepArrayBuffersInPause(): void {
  setFlagsFromString('--no-concurrent-array-buffer-sweeping');
}

/** How often the server checks whether it has been quiet (see shrinkYoungGenerationWhenQuiet). */
export const QUIET_CHECK_MS = 2000;
/** At most this share of a check interval spent running JavaScript counts as quiet. */
export const QUIET_UTILIZATION = 0.02;
/** A young generation up to this size (both semi-spaces) is left as it is; V8 shrinks it to 1 MiB. */
export const YOUNG_BYTES_KEPT = 2 * 1024 * 1024;

/**
 * One check of shrinkYoungGenerationWhenQuiet: a scavenge when the event loop was busy for at most
 * QUIET_UTILIZATION of the interval and the young generation holds more than YOUNG_BYTES_KEPT
 * (asked only when quiet). True when it collected.
 */
export function checkQuiet(busy: number, youngBytes: () => number, collect: () => void): boolean {
  if (busy > QUIET_UTILIZATION || youngBytes() <= YOUNG_BYTES_KEPT) return false;
  collect();
  return true;
}

/** Bytes V8 holds for the young generation (both semi-spaces) now. */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * Gives the young generation's memory back once the server has been quiet for a while.
 *
 * Under many small requests V8 grows its young generation to the largest semi-space allowed
 * (`--max-semi-space-size`: 2 MiB per semi-space under `npm start`, 4 MiB for both; 16 MiB
 * per semi-space without the flag). V8 gives the pages back only when a GC runs while
 * allocation is slow (under about 1 MB/s), which an idle server does not trigger: its memory
 * reducer did, after about 30 s. Every QUIET_CHECK_MS the server looks at how busy its event
 * loop was; when quiet, a scavenge (well under a millisecond with the young generation empty)
 * lets V8 shrink it once its allocation rate has been low for a few seconds (about 6 s after a
 * load here). A busy interval costs one event-loop utilization sample.
 */
export function shrinkYoungGenerationWhenQuiet(): () => void {
  let last = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    checkQuiet(busy, youngGenerationBytes, () => v8Gc()({ type: 'minor' }));
  }, QUIET_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
