import type { FastifyInstance, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { GcSummary } from '../registry/gc/garbage-collector.ts';
import type { StatsStore } from '../metadata/stats-store.ts';
import { type HistogramSeries, LatencyHistogram } from './latency-histogram.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * A bounded label for metrics: `oci.manifest`, `oci.blob`, `ext.tag`, ... Set by a plugin that
     * knows better than the route pattern (the `/v2` handler matches its own paths); else derived.
     */
    routeKind: string;
  }
}

/** Latency buckets (seconds): fast metadata answers up to long blob transfers. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Registry-wide aggregates are queried at most this often, however often Prometheus scrapes. */
const STATS_TTL_MS = 10_000;

interface RequestSeries {
  count: Counter.Internal;
  latency: HistogramSeries;
  /** Requests not yet added to `count`: plain arithmetic per request, prom-client work per scrape. */
  pending: number;
}

interface ByteSeries {
  in: Counter.Internal;
  out: Counter.Internal;
  pendingIn: number;
  pendingOut: number;
}

/** `/docker/api/tag/:projectId/...` -> `ext.tag`; `/repository/api/project/...` -> `mgmt.project`; others by first segment. */
export function kindOfPattern(pattern: string | undefined): string {
  if (pattern === undefined) return 'unmatched';
  const parts = pattern.split('/').filter((p) => p !== '');
  if (parts[0] === 'v2') return parts[1] === 'auth' ? 'token' : 'oci.other';
  if (parts[0] === 'docker' && parts[1] === 'api') return `ext.${parts[2] ?? 'root'}`.replace(/[^a-z0-9._]/gi, '');
  if (parts[1] === 'api') return `mgmt.${parts[2] ?? 'root'}`.replace(/[^a-z0-9._]/gi, '');
  if (parts.length === 0 || parts[0] === '*') return 'web';
  return parts[0]!.replace(/[^a-z0-9._]/gi, '') || 'web';
}

/**
 * Prometheus metrics of one Berth process, in their own registry (several apps may share a
 * process in tests). The per-request path does map lookups on pre-bound label children and
 * allocates nothing once a (kind, method, status) combination has been seen. Counters are summed
 * in plain numbers and handed to prom-client at scrape time (its inc() costs about 0.5 us), and
 * latencies are counted in a LatencyHistogram that prom-client formats at scrape time.
 */
export class BerthMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<string>;
  private readonly latency: LatencyHistogram;
  private readonly bytes: Counter<string>;
  private readonly gcRuns: Counter<string>;
  private readonly gcBytes: Counter<string>;
  private readonly gcBlobs: Counter<string>;
  /** kind -> method -> status -> children. */
  private readonly series = new Map<string, Map<string, Map<number, RequestSeries>>>();
  private readonly byteSeries = new Map<string, ByteSeries>();
  /** Route pattern -> kind. Bounded by the number of registered routes. */
  private readonly kinds = new Map<string | undefined, string>();
  private stats: { at: number; value: Promise<{ blobs: { count: number; bytes: number }; uploads: number }> } | undefined;

  constructor(private readonly store: StatsStore | undefined) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const self = this;
    this.requests = new Counter({
      name: 'berth_http_requests_total',
      help: 'HTTP requests by route kind, method and status',
      labelNames: ['kind', 'method', 'status'],
      registers,
      collect() {
        for (const byMethod of self.series.values()) {
          for (const byStatus of byMethod.values()) {
            for (const s of byStatus.values()) {
              if (s.pending > 0) s.count.inc(s.pending);
              s.pending = 0;
            }
          }
        }
      },
    });
    this.latency = new LatencyHistogram(
      'berth_http_request_duration_seconds',
      'HTTP request latency (until the response is written) by route kind, method and status',
      LATENCY_BUCKETS,
      this.registry,
    );
    this.bytes = new Counter({
      name: 'berth_http_bytes_total',
      help: 'Bytes received (request bodies) and sent (responses) by route kind',
      labelNames: ['kind', 'direction'],
      registers,
      collect() {
        for (const b of self.byteSeries.values()) {
          if (b.pendingIn > 0) b.in.inc(b.pendingIn);
          if (b.pendingOut > 0) b.out.inc(b.pendingOut);
          b.pendingIn = 0;
          b.pendingOut = 0;
        }
      },
    });
    this.gcRuns = new Counter({ name: 'berth_gc_runs_total', help: 'Garbage collection runs by result', labelNames: ['result'], registers });
    this.gcBytes = new Counter({ name: 'berth_gc_freed_bytes_total', help: 'Bytes of blobs deleted by garbage collection', registers });
    this.gcBlobs = new Counter({ name: 'berth_gc_freed_blobs_total', help: 'Blobs deleted by garbage collection', registers });
    this.gcRuns.inc({ result: 'ok' }, 0);
    this.gcRuns.inc({ result: 'failed' }, 0);
    this.gcBytes.inc(0);
    this.gcBlobs.inc(0);
    new Gauge({
      name: 'berth_storage_blobs_bytes',
      help: 'Bytes of all stored blobs (each digest once), from the metadata store',
      registers,
      async collect() {
        const s = await self.registryStats();
        if (s) this.set(s.blobs.bytes);
      },
    });
    new Gauge({
      name: 'berth_storage_blobs',
      help: 'Stored blobs (each digest once)',
      registers,
      async collect() {
        const s = await self.registryStats();
        if (s) this.set(s.blobs.count);
      },
    });
    new Gauge({
      name: 'berth_upload_sessions',
      help: 'Upload sessions in progress (all nodes), until they finish, are cancelled or expire',
      registers,
      async collect() {
        const s = await self.registryStats();
        if (s) this.set(s.uploads);
      },
    });
  }

  /** Cached for STATS_TTL_MS; undefined without a store or when the query fails (the scrape still answers). */
  private async registryStats(): Promise<{ blobs: { count: number; bytes: number }; uploads: number } | undefined> {
    if (!this.store) return undefined;
    const now = Date.now();
    if (!this.stats || now - this.stats.at > STATS_TTL_MS) {
      const store = this.store;
      this.stats = { at: now, value: (async () => ({ blobs: await store.storedBlobs(), uploads: await store.uploadSessions() }))() };
    }
    try {
      return await this.stats.value;
    } catch {
      this.stats = undefined;
      return undefined;
    }
  }

  /** Records one finished request. */
  observe(req: FastifyRequest, status: number, ms: number, bytesIn: number, bytesOut: number): void {
    let kind = req.routeKind;
    if (kind === '') {
      const pattern = req.routeOptions.url;
      kind = this.kinds.get(pattern) ?? '';
      if (kind === '') {
        kind = kindOfPattern(pattern);
        this.kinds.set(pattern, kind);
      }
    }
    const s = this.requestSeries(kind, req.method, status);
    s.pending++;
    s.latency.observe(ms / 1000);
    if (bytesIn > 0 || bytesOut > 0) {
      let b = this.byteSeries.get(kind);
      if (!b) {
        b = { in: this.bytes.labels(kind, 'in'), out: this.bytes.labels(kind, 'out'), pendingIn: 0, pendingOut: 0 };
        this.byteSeries.set(kind, b);
      }
      b.pendingIn += bytesIn;
      b.pendingOut += bytesOut;
    }
  }

  private requestSeries(kind: string, method: string, status: number): RequestSeries {
    let byMethod = this.series.get(kind);
    if (!byMethod) this.series.set(kind, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (!s) {
      const code = String(status);
      s = { count: this.requests.labels(kind, method, code), latency: this.latency.child({ kind, method, status: code }), pending: 0 };
      byStatus.set(status, s);
    }
    return s;
  }

  /** One GC run's outcome (the scheduler's summary), or a failed run. */
  gcRun(summary: GcSummary | undefined): void {
    if (!summary) {
      this.gcRuns.inc({ result: 'failed' });
      return;
    }
    this.gcRuns.inc({ result: 'ok' });
    this.gcBytes.inc(summary.bytesFreed);
    this.gcBlobs.inc(summary.blobsDeleted);
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The socket's byte counters when the request started (metrics count a request's own bytes on keep-alive connections). */
    bytesReadAtStart: number;
    bytesWrittenAtStart: number;
  }
}

/** Wires request metrics into `app` and serves them at `GET /metrics` (text exposition format). */
export function registerMetrics(app: FastifyInstance, metrics: BerthMetrics): void {
  app.decorateRequest('routeKind', '');
  app.decorateRequest('bytesReadAtStart', 0);
  app.decorateRequest('bytesWrittenAtStart', 0);
  app.addHook('onRequest', (req, _reply, done) => {
    const socket = req.raw.socket;
    req.bytesReadAtStart = socket.bytesRead;
    req.bytesWrittenAtStart = socket.bytesWritten;
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    // In: the declared body when it all arrived (a small body comes in the packet of its head, read
    // before onRequest), else what the socket read while the request ran (chunked, or cut short).
    // Out: what the socket wrote while it ran (head and body).
    const socket = req.raw.socket;
    const declared = req.headers['content-length'];
    const bytesIn = declared !== undefined && req.raw.complete ? Number(declared) || 0 : socket.bytesRead - req.bytesReadAtStart;
    metrics.observe(req, reply.statusCode, reply.elapsedTime, bytesIn, socket.bytesWritten - req.bytesWrittenAtStart);
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
