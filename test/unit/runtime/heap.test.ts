import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BODY_BYTES_PER_SCAVENGE, bodyBytesDone } from '../../../src/runtime/heap.ts';

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

describe('BurstEnd', () => {
  it('fires once on the first idle sample after a busy one, never while busy or always idle', async () => {
    const { BurstEnd, BUSY_UTILIZATION, IDLE_UTILIZATION } = await import('../../../src/runtime/heap.ts');
    const d = new BurstEnd();
    const busy = BUSY_UTILIZATION;
    const idle = IDLE_UTILIZATION / 2;
    const between = (BUSY_UTILIZATION + IDLE_UTILIZATION) / 2;
    assert.deepEqual([idle, idle, between, idle].map((u) => d.sample(u)), [false, false, false, false]);
    assert.deepEqual([busy, 1, between, idle, idle].map((u) => d.sample(u)), [false, false, false, true, false]);
    assert.deepEqual([busy, idle].map((u) => d.sample(u)), [false, true]);
  });
});
