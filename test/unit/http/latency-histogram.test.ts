import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { LatencyHistogram } from '../../../src/http/latency-histogram.ts';

const BOUNDS = [0.001, 0.01, 0.1, 1, 10];
const SERIES: [string, string, string][] = [
  ['oci.manifest', 'GET', '200'],
  ['oci.blob', 'HEAD', '404'],
  ['ext.tag', 'GET', '200'],
];
// Values on, between, below and above the bounds.
const VALUES = [0, 0.0005, 0.001, 0.0010001, 0.05, 0.1, 0.5, 1, 9.99, 10, 10.5, 300];

/** prom-client's own histogram and ours, in two registries, given the same observations. */
function both(): { theirs: Registry; ours: Registry } {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({ name: 'x_seconds', help: 'help "text"\\n', labelNames: ['kind', 'method', 'status'], buckets: BOUNDS, registers: [theirs] });
  const histogram = new LatencyHistogram('x_seconds', 'help "text"\\n', BOUNDS, ours);
  SERIES.forEach(([kind, method, status], n) => {
    const a = reference.labels(kind, method, status);
    const b = histogram.child({ kind, method, status });
    VALUES.slice(n).forEach((v) => {
      a.observe(v);
      b.observe(v);
    });
  });
  return { theirs, ours };
}

describe('LatencyHistogram', () => {
  it("prints exactly what prom-client's Histogram prints for the same observations", async () => {
    const { theirs, ours } = both();
    const expected = await theirs.metrics();
    assert.match(expected, /x_seconds_bucket\{le="0.01",kind="oci.manifest",method="GET",status="200"\} 4/);
    assert.equal(await ours.metrics(), expected);
  });

  it("gives the registry's JSON form as prom-client does", async () => {
    const { theirs, ours } = both();
    assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
  });

  it('binds a series once per label combination and counts into it', () => {
    const histogram = new LatencyHistogram('y_seconds', 'h', BOUNDS, new Registry());
    const a = histogram.child({ kind: 'k', method: 'GET', status: '200' });
    assert.equal(histogram.child({ kind: 'k', method: 'GET', status: '200' }), a);
    assert.notEqual(histogram.child({ kind: 'k', method: 'GET', status: '500' }), a);
    a.observe(0.02);
    a.observe(20);
    assert.deepEqual([...a.counts], [0, 0, 1, 0, 0, 1]);
    assert.equal(a.count, 2);
    assert.equal(a.sum, 20.02);
  });

  it('refuses bounds that are not increasing', () => {
    assert.throws(() => new LatencyHistogram('z', 'h', [1, 1], new Registry()));
    assert.throws(() => new LatencyHistogram('z', 'h', [1, Infinity], new Registry()));
  });
});
