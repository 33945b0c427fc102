/** Operations: Prometheus /metrics, /healthz, /readyz failing when the database or the data dir goes away. */
import assert from 'node:assert/strict';
import { rename, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { blob, pushBlob, pushImage, relative, sha256 } from '../support/oci-fixtures.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

/** `name{labels} value` lines of the exposition text, as a map from the series to its value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(server: TestServer): Promise<Map<string, number>> {
  const res = await fetch(`${server.baseUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return parseMetrics(await res.text());
}

const GC_GRACE_SECONDS = 5;

describe('operations endpoints', () => {
  let server: TestServer;
  before(async () => {
    // GC every second; the grace keeps a blob pushed for a manifest still to come (without one, a
    // run could fall between an image's blobs and its manifest on a busy machine).
    server = await startTestServer({ BERTH_GC_INTERVAL: '1', BERTH_GC_GRACE: String(GC_GRACE_SECONDS) });
  });
  after(async () => {
    await server?.close();
  });

  it('/metrics counts requests by route kind, method and status, with latencies and bytes', async () => {
    const name = 'demo/docker/metrics';
    const { layer, manifest } = await pushImage(server, name, 'v1');
    assert.equal((await server.fetch(`/v2/${name}/blobs/${layer.digest}`)).status, 200);
    await (await server.fetch(`/v2/${name}/manifests/nope`)).arrayBuffer();
    await (await server.fetch(`/docker/api/tag/demo/docker/metrics`)).arrayBuffer();
    const m = await scrape(server);
    const get = (series: string) => m.get(series) ?? 0;
    assert.ok(get('berth_http_requests_total{kind="oci.manifest",method="PUT",status="201"}') >= 1, [...m.keys()].filter((k) => k.startsWith('berth_http_requests')).join('\n'));
    assert.ok(get('berth_http_requests_total{kind="oci.manifest",method="GET",status="404"}') >= 1);
    assert.ok(get('berth_http_requests_total{kind="oci.blob",method="GET",status="200"}') >= 1);
    assert.ok(get('berth_http_requests_total{kind="oci.upload",method="PUT",status="201"}') >= 2);
    assert.ok(get('berth_http_requests_total{kind="ext.tag",method="GET",status="200"}') >= 1);
    assert.ok(get('berth_http_request_duration_seconds_count{kind="oci.blob",method="GET",status="200"}') >= 1);
    assert.ok(get('berth_http_request_duration_seconds_bucket{le="+Inf",kind="oci.blob",method="GET",status="200"}') >= 1);
    assert.ok(get('berth_http_bytes_total{kind="oci.blob",direction="out"}') >= layer.size, 'blob bytes out');
    assert.ok(get('berth_http_bytes_total{kind="oci.upload",direction="in"}') >= layer.size, 'upload bytes in');
    assert.ok(get('berth_http_bytes_total{kind="oci.manifest",direction="in"}') >= manifest.bytes.length);
    assert.ok(m.has('process_resident_memory_bytes'), 'process metrics');
  });

  it('labels stay bounded: no repository names, digests or raw URLs', async () => {
    for (let i = 0; i < 30; i++) await (await server.fetch(`/v2/demo/docker/n${i}/manifests/t${i}`)).arrayBuffer();
    await (await fetch(`${server.baseUrl}/no/such/path/${Math.random()}`)).arrayBuffer();
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    assert.doesNotMatch(text, /demo\/docker|sha256:|no\/such/);
    const kinds = new Set([...text.matchAll(/kind="([^"]+)"/g)].map((x) => x[1]));
    assert.ok(kinds.size < 20, [...kinds].join(' '));
    assert.ok(kinds.has('unmatched'));
  });

  it('upload sessions in progress, storage used, GC runs and bytes freed', async () => {
    const name = 'demo/docker/gauges';
    const start = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    const loc = relative(start.headers.get('location')!);
    // The gauges are cached for 10 s: wait (bounded) until they show the open session.
    let m = await scrape(server);
    for (let i = 0; i < 150 && (m.get('berth_upload_sessions') ?? 0) < 1; i++) {
      await sleep(100);
      m = await scrape(server);
    }
    assert.ok((m.get('berth_upload_sessions') ?? 0) >= 1, 'an open upload session is counted');
    assert.ok((m.get('berth_storage_blobs_bytes') ?? 0) > 0, 'storage used');
    assert.equal((await server.fetch(loc, { method: 'DELETE' })).status, 204);

    // A blob nothing references: GC (every second here) frees it once older than the grace, and the
    // counters say so.
    const lonely = blob(`lonely ${Math.random()}`);
    await pushBlob(server, 'demo/docker/lonely', lonely);
    await server.fetch(`/v2/demo/docker/lonely/blobs/${lonely.digest}`, { method: 'DELETE' });
    for (let i = 0; i < 10 * (GC_GRACE_SECONDS + 20) && (m.get('berth_gc_freed_bytes_total') ?? 0) < lonely.size; i++) {
      await sleep(100);
      m = await scrape(server);
    }
    assert.ok((m.get('berth_gc_runs_total{result="ok"}') ?? 0) >= 1, 'GC runs counted');
    assert.ok((m.get('berth_gc_freed_bytes_total') ?? 0) >= lonely.size, 'bytes freed counted');
    assert.ok((m.get('berth_gc_freed_blobs_total') ?? 0) >= 1);
    assert.equal(sha256(lonely.bytes), lonely.digest);
  });

  it('/healthz is live; /readyz is 503 while the data dir is gone, 200 again when it is back', async () => {
    assert.equal((await fetch(`${server.baseUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.baseUrl}/readyz`)).status, 200);
    const moved = `${server.dataDir}.moved`;
    await rename(server.dataDir, moved);
    try {
      const res = await fetch(`${server.baseUrl}/readyz`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { status: 'unavailable' });
      assert.equal((await fetch(`${server.baseUrl}/healthz`)).status, 200, 'still live');
    } finally {
      await rename(moved, server.dataDir);
    }
    assert.equal((await fetch(`${server.baseUrl}/readyz`)).status, 200);
  });

  it('/readyz is 503 once the database is closed', async () => {
    const other = await startTestServer({ BERTH_GC_INTERVAL: '0' });
    try {
      assert.equal((await fetch(`${other.baseUrl}/readyz`)).status, 200);
      await other.app.deps.metadata.close();
      assert.equal((await fetch(`${other.baseUrl}/readyz`)).status, 503);
    } finally {
      // Not other.close(): its database is closed already. The data dir goes all the same.
      await other.app.http.close();
      await rm(other.dataDir, { recursive: true, force: true });
    }
  });
});
