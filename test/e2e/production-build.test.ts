/**
 * The production build (scripts/bundle.ts: what `npm start`, bin/berth.js and the benchmark run)
 * as a process: every other end-to-end test runs the sources through tsx, so this one checks
 * that the bundle serves a real client, finds the web UI and runs the CLI commands.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundle } from '../../scripts/bundle.ts';
import { startSettings } from '../../scripts/start-settings.ts';
import { buildImage, writeOciLayout } from '../support/oci-image-builder.ts';
import { REPO_ROOT, type ServerProcess, startServerProcess } from '../support/server-process.ts';
import { readDirPull, skopeoOk } from '../support/skopeo.ts';

describe('the production build', { timeout: 300_000 }, () => {
  // Inside the checkout, as dist/ is: the bundle finds node_modules and web/dist from there.
  const outdir = join(REPO_ROOT, '.tmp', `test-build-${process.pid}`);
  let entry: string;
  let work: string;
  let server: ServerProcess | undefined;

  before(async () => {
    entry = await bundle(REPO_ROOT, outdir);
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-build-'));
  });
  after(async () => {
    await server?.dispose();
    await rm(outdir, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('serves a skopeo push and pull, the web UI, and then runs berth gc on the data', async () => {
    const start = startSettings(REPO_ROOT); // as npm start runs it
    server = await startServerProcess({ entry: [...start.nodeFlags, entry], env: start.env });
    const image = buildImage({ seed: 'bundle', layers: 2 });
    await writeOciLayout(join(work, 'layout'), 'v1', image);
    const creds = ['--src-tls-verify=false', '--dest-tls-verify=false', '--src-creds', `admin:${server.adminPassword}`, '--dest-creds', `admin:${server.adminPassword}`];
    await skopeoOk(['copy', ...creds, `oci:${join(work, 'layout')}:v1`, `docker://${server.host}/demo/docker/bundled:v1`]);
    await skopeoOk(['copy', ...creds, `docker://${server.host}/demo/docker/bundled:v1`, `dir:${join(work, 'pulled')}`]);
    const pulled = await readDirPull(join(work, 'pulled'));
    assert.equal(pulled.digest, image.digest);
    assert.deepEqual(pulled.layers, image.layers.map((l) => l.digest));

    const ui = await fetch(`${server.url}/`);
    assert.equal(ui.status, 200);
    assert.match(ui.headers.get('content-type') ?? '', /^text\/html/);
    const index = join(REPO_ROOT, 'web', 'dist', 'index.html');
    if (existsSync(index)) assert.equal(await ui.text(), await readFile(index, 'utf8'), 'the UI of web/dist, found from dist/');
    assert.deepEqual(await server.stop(), { code: 0, signal: null });

    const gc = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [entry, 'gc', '-d', server!.dataDir, '--dry-run'], { cwd: REPO_ROOT, env: { ...process.env, BERTH_LOG_LEVEL: 'silent' } }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /dry run: would free 0 blobs/);
  });
});
