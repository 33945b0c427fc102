import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { correctedQuantiles } from '../../../bench/load.ts';

describe('correctedQuantiles', () => {
  it('reports plain quantiles when no sample reaches two mean intervals', () => {
    const latencies = Array.from({ length: 100 }, (_, i) => 1 + i / 100); // 1.00 .. 1.99 ms
    assert.deepEqual(correctedQuantiles(latencies, 1, [0.5, 0.99]), [1.49, 1.98]);
  });

  it('adds, as wrk does, samples one mean interval apart below a stalled one, down to two intervals', () => {
    // 97 answers of 1 ms and one of 10 ms at a 1 ms interval: the stall adds 9, 8, ... 2 ms (8 samples).
    const latencies = [...Array(97).fill(1), 10];
    const [p50, p95, p99, max] = correctedQuantiles(latencies, 1, [0.5, 0.95, 0.99, 1]);
    assert.equal(p50, 1);
    assert.equal(p95, 5); // of 106 samples, 97 are 1 ms, then 2, 3, 4, 5 ms
    assert.equal(p99, 9);
    assert.equal(max, 10);
    // At a 100 ms interval nothing is corrected: the 95th percentile is 1 ms.
    assert.equal(correctedQuantiles(latencies, 100, [0.95])[0], 1);
  });
});
