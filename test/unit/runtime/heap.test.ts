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
