import type { Metric, MetricValue, Registry } from 'prom-client';

/** One label combination's counts. observe() is plain arithmetic: no hashing, no objects. */
export class HistogramSeries {
  /** Observations per bucket, not cumulative; the last slot counts those above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Counts `value` in the first bucket whose upper bound is at least `value`. */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** A line as prom-client's Histogram hands it to the registry (no exemplars here: null on buckets, as it has them). */
type Exported = MetricValue<string> & { metricName: string; sharedLabels?: Record<string, string>; exemplar: null | undefined };

/**
 * A Prometheus histogram for a value observed on every request. prom-client's Histogram hashes
 * the labels and validates them on each observe(): about 2.5% of the instructions of a small
 * request (callgrind). Here a series is bound once per label combination and observe() only
 * counts; the registry formats the series at scrape time exactly as it formats its own
 * histograms (same lines, labels and order; a unit test compares the two).
 */
export class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    if (bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))) throw new Error('histogram bounds must be finite and increasing');
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of `labels` (label values in the order the caller always uses), made on first use. */
  child(labels: Record<string, string>): HistogramSeries {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (!s) {
      s = new HistogramSeries({ ...labels }, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  /** What the registry prints: bucket lines with `le` before the series' labels, then _sum and _count. */
  getForPromString(): { name: string; help: string; type: string; aggregator: string; values: Exported[] } {
    const values: Exported[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ metricName: bucket, labels: { le }, sharedLabels: s.labels, value: cumulative, exemplar: null });
      });
      values.push(
        { metricName: bucket, labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, exemplar: null },
        { metricName: `${this.name}_sum`, labels: {}, sharedLabels: s.labels, value: s.sum, exemplar: undefined },
        { metricName: `${this.name}_count`, labels: {}, sharedLabels: s.labels, value: s.count, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The same values with each series' labels merged into the line's (the registry's JSON form). */
  get(): { name: string; help: string; type: string; aggregator: string; values: Exported[] } {
    const data = this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }

  /** Forgets every series (Registry.resetMetrics). */
  reset(): void {
    this.series.clear();
  }
}
