import { getHeapStatistics } from 'node:v8';
import { compactHeap } from '../runtime/heap.ts';
import type { InFlightResponses } from './in-flight.ts';

/** How often the server is checked for quiet: a compaction comes 0.5-1 s after the last response. */
export const QUIET_CHECK_MS = 500;
/** V8's heap must have grown this much since the last compaction (or start) for another. */
export const MIN_GROWTH_BYTES = 8 * 1024 * 1024;

export interface IdleCompactionOptions {
  checkEveryMs?: number;
  minGrowthBytes?: number;
  /** V8's committed heap, in bytes (replaceable for tests). */
  heapBytes?: () => number;
  /** The compacting full GC (replaceable for tests). */
  compact?: () => void;
  /** Told after each compaction: the heap before and after, and how long it took. */
  compacted?: (beforeBytes: number, afterBytes: number, ms: number) => void;
}

/**
 * Gives memory back to the system when the server goes quiet after work that grew V8's heap.
 *
 * Under load V8 collects the old generation without compacting most of it: pages left sparse
 * stay committed, and in the benchmark's small pushes, small requests and tag writes the process
 * kept 13 MiB more RSS than a compacted heap needs, for good (V8's own memory reducer did not act
 * within 20 s of quiet). A compacting GC costs tens of milliseconds of main thread, so it runs
 * only when no response is open and no request has begun for a whole check interval, and only
 * after the heap grew by `minGrowthBytes`: a trickle of health probes never triggers one.
 */
export class IdleCompaction {
  private readonly minGrowthBytes: number;
  private readonly heapBytes: () => number;
  private readonly compact: () => void;
  private readonly compacted: IdleCompactionOptions['compacted'];
  private readonly timer: NodeJS.Timeout;
  /** `inFlight.started` at the previous check, and when the last compaction ran. */
  private startedAtCheck: number;
  private startedAtCompaction: number;
  private heapAfterCompaction: number;

  constructor(
    private readonly inFlight: InFlightResponses,
    options: IdleCompactionOptions = {},
  ) {
    this.minGrowthBytes = options.minGrowthBytes ?? MIN_GROWTH_BYTES;
    this.heapBytes = options.heapBytes ?? (() => getHeapStatistics().total_heap_size);
    this.compact = options.compact ?? compactHeap;
    this.compacted = options.compacted;
    this.startedAtCheck = this.startedAtCompaction = inFlight.started;
    this.heapAfterCompaction = this.heapBytes();
    this.timer = setInterval(() => this.check(), options.checkEveryMs ?? QUIET_CHECK_MS).unref();
  }

  /** One check (the timer's; exported for tests): compacts when quiet since the last check and grown. */
  check(): void {
    const started = this.inFlight.started;
    const quiet = started === this.startedAtCheck && this.inFlight.open.size === 0;
    this.startedAtCheck = started;
    if (!quiet || started === this.startedAtCompaction) return;
    const before = this.heapBytes();
    if (before - this.heapAfterCompaction < this.minGrowthBytes) return;
    const t0 = performance.now();
    this.compact();
    this.startedAtCompaction = started;
    this.heapAfterCompaction = this.heapBytes();
    this.compacted?.(before, this.heapAfterCompaction, performance.now() - t0);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
