/** `berth gc` and `berth fsck` as processes against a stopped server's data dir. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildImage, sha256 } from '../support/oci-image-builder.ts';
import { pushImage } from '../support/push-image.ts';
import { REPO_ROOT } from '../support/server-process.ts';
import { startTestServer } from '../support/test-server.ts';

function berth(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, BERTH_LOG_LEVEL: 'silent', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('berth gc / berth fsck', () => {
  it('dry run, collection, verification, corruption found and repaired', async () => {
    const server = await startTestServer({ BERTH_GC_INTERVAL: '0' });
    try {
      const image = buildImage({ seed: 'cli', layers: 2 });
      await pushImage(server, 'demo/docker/app', 'v1', image);
      const lonely = Buffer.from('uploaded, never referenced');
      const res = await server.fetch(`/v2/demo/docker/other/blobs/uploads/?digest=${sha256(lonely)}`, { method: 'POST', body: lonely });
      assert.equal(res.status, 201);
      await server.app.close();
      const dir = ['-d', server.dataDir];

      let r = await berth(['gc', ...dir, '--dry-run'], { BERTH_GC_GRACE: '0' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /dry run: would free 1 blobs, .*\(26 bytes\)/);
      r = await berth(['gc', ...dir, '--dry-run'], { BERTH_GC_GRACE: '1h' });
      assert.match(r.stdout, /would free 0 blobs/, 'within the grace period');
      r = await berth(['gc', ...dir], { BERTH_GC_GRACE: '0' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^freed 1 blobs/);
      r = await berth(['gc', ...dir], { BERTH_GC_GRACE: '0' });
      assert.match(r.stdout, /^freed 0 blobs/);

      r = await berth(['fsck', ...dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /checked 3 blobs/);
      assert.match(r.stdout, /no problems found/);

      const layer = image.layers[0]!;
      const hex = layer.digest.slice('sha256:'.length);
      await writeFile(join(server.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex), Buffer.alloc(layer.size, 7));
      r = await berth(['fsck', ...dir]);
      assert.equal(r.code, 2);
      assert.match(r.stdout, new RegExp(`corrupt blob: ${layer.digest}`));
      r = await berth(['fsck', ...dir, '--repair']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`broken manifest: demo/docker/app@${image.digest} references missing blob ${layer.digest}`));
      r = await berth(['fsck', ...dir, '--no-verify']);
      assert.doesNotMatch(r.stdout, /corrupt blob/);
    } finally {
      await server.close();
    }
  });
});
