import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildImage, writeOciLayout } from '../support/oci-image-builder.ts';
import { type BerthChild, basicAuth, type ExitStatus, type ServerProcess, spawnBerth, startServerProcess } from '../support/server-process.ts';
import { readDirPull, skopeoOk } from '../support/skopeo.ts';

const EXIT_TIMEOUT_MS = 30_000;

/** Waits (bounded) for a child expected to exit on its own; kills it (by its PID) if it does not. */
async function waitForExit(proc: BerthChild): Promise<ExitStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), EXIT_TIMEOUT_MS);
  });
  const result = await Promise.race([proc.exited, timeout]);
  clearTimeout(timer);
  if (result === 'timeout') {
    proc.child.kill('SIGKILL');
    await proc.exited;
    assert.fail(`berth did not exit within ${EXIT_TIMEOUT_MS} ms; stderr:\n${proc.stderr()}\nstdout:\n${proc.stdout().slice(-2000)}`);
  }
  return result;
}

/** Polls `probe` until it returns a value (bounded by attempts, not by timing assertions). */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(25);
  }
  throw new Error(`gave up waiting for ${what}`);
}

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('the Berth server process', { timeout: 300_000 }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  async function tempDir(label: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `berth-e2e-${label}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }
  async function start(options: Parameters<typeof startServerProcess>[0] = {}): Promise<ServerProcess> {
    const server = await startServerProcess(options);
    cleanups.push(() => server.dispose());
    return server;
  }

  it('logs one start-up line saying where it listens and where the data lives', async () => {
    const server = await start();
    const line = server.listeningLine;
    assert.equal(line.address, server.url);
    assert.equal(line.dataDir, server.dataDir);
    assert.ok(String(line.msg).includes(server.url), `the message names the URL: ${String(line.msg)}`);
    assert.ok(String(line.msg).includes(server.dataDir), `the message names the data dir: ${String(line.msg)}`);
    assert.equal(server.logs().filter((l) => String(l.msg).startsWith('berth listening')).length, 1);
    assert.match(server.host, /^127\.0\.0\.1:\d+$/);

    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    const v2 = await fetch(`${server.url}/v2/`, { headers: { authorization: basicAuth('admin', server.adminPassword!) } });
    assert.equal(v2.status, 200);
    assert.equal(v2.headers.get('docker-distribution-api-version'), 'registry/2.0');

    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM stops it cleanly; stderr:\n${server.process.stderr()}`);
  });

  it('generates the admin password on first start into a 0600 file, and it works', async () => {
    const server = await start({ adminPassword: null });
    const file = join(server.dataDir, 'admin-password');
    const mode = (await stat(file)).mode & 0o777;
    assert.equal(mode.toString(8), '600', 'only the owner may read the password file');
    const password = (await readFile(file, 'utf8')).trim();
    assert.ok(password.length >= 16, 'a generated password of reasonable length');
    assert.ok(server.process.stderr().includes(password), 'printed once on the console for the operator');
    assert.ok(!server.process.stdout().includes(password), 'never in the JSON logs');

    const v2 = (authorization?: string) => fetch(`${server.url}/v2/`, authorization ? { headers: { authorization } } : {});
    assert.equal((await v2(basicAuth('admin', password))).status, 200);
    assert.equal((await v2(basicAuth('admin', `${password}x`))).status, 401);
    const anonymous = await v2();
    assert.equal(anonymous.status, 401);
    assert.ok(anonymous.headers.get('www-authenticate'));
    assert.deepEqual(await server.stop(), { code: 0, signal: null });

    // A second start on the same data keeps the password and does not print or rewrite it.
    const again = await start({ adminPassword: null, dataDir: server.dataDir });
    assert.ok(!again.process.stderr().includes(password), 'not printed again');
    assert.equal((await readFile(file, 'utf8')).trim(), password);
    assert.equal((await fetch(`${again.url}/v2/`, { headers: { authorization: basicAuth('admin', password) } })).status, 200);
    assert.deepEqual(await again.stop(), { code: 0, signal: null });
  });

  it('takes its settings from a config file, environment over file, flags over both', async () => {
    const fileDataDir = await tempDir('from-file');
    const envDataDir = await tempDir('from-env');
    const configFile = join(await tempDir('config'), 'berth.json');
    await writeFile(configFile, JSON.stringify({ listen: '127.0.0.1:1', dataDir: fileDataDir, adminPassword: 'from-file', logLevel: 'info' }));

    // The file, with its listen address overridden by both the environment and a flag.
    const fromFile = await start({
      dataDir: fileDataDir,
      adminPassword: null,
      args: ['serve', '--listen', '127.0.0.1:0'],
      env: { BERTH_CONFIG: configFile, BERTH_DATA_DIR: undefined, BERTH_LISTEN: '127.0.0.1:1' },
    });
    assert.notEqual(new URL(fromFile.url).port, '1', 'the --listen flag beats BERTH_LISTEN and the file');
    assert.equal(fromFile.listeningLine.dataDir, fileDataDir, 'dataDir from the file');
    const ok = await fetch(`${fromFile.url}/v2/`, { headers: { authorization: basicAuth('admin', 'from-file') } });
    assert.equal(ok.status, 200, 'the admin password from the file');
    assert.deepEqual(await fromFile.stop(), { code: 0, signal: null });

    // The environment beats the file.
    const fromEnv = await start({ dataDir: envDataDir, adminPassword: 'from-env', args: ['serve', '--listen', '127.0.0.1:0'], env: { BERTH_CONFIG: configFile } });
    assert.equal(fromEnv.listeningLine.dataDir, envDataDir, 'BERTH_DATA_DIR beats the file');
    assert.equal((await fetch(`${fromEnv.url}/v2/`, { headers: { authorization: basicAuth('admin', 'from-env') } })).status, 200);
    assert.deepEqual(await fromEnv.stop(), { code: 0, signal: null });
  });

  // Each case is its own short-lived process: run them side by side.
  describe('refuses a bad configuration', { concurrency: true }, () => {
    for (const [label, env, names] of [
      ['a listen address that is not host:port', { BERTH_LISTEN: 'nonsense' }, /nonsense/],
      ['an unknown log level', { BERTH_LOG_LEVEL: 'loud' }, /log ?level/i],
      ['a base URL that is not http(s)', { BERTH_BASE_URL: 'ftp://registry.example' }, /ftp:\/\/registry\.example/],
      ['a config file that does not exist', { BERTH_CONFIG: '/nonexistent/berth-config.json' }, /\/nonexistent\/berth-config\.json/],
    ] as const) {
      it(`exits non-zero with one clear line on ${label}`, async () => {
        const dataDir = await tempDir('badconfig');
        const proc = spawnBerth({ env: Object.assign({ BERTH_DATA_DIR: dataDir, BERTH_ADMIN_PASSWORD: 'x', BERTH_LISTEN: '127.0.0.1:0' }, env) });
        const exit = await waitForExit(proc);
        assert.notEqual(exit.code, 0, `must fail; stdout:\n${proc.stdout()}`);
        assert.equal(exit.signal, null);
        const lines = proc.stderr().trim().split('\n');
        assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${proc.stderr()}`);
        assert.match(lines[0]!, /^berth: /);
        assert.match(lines[0]!, names, 'the line names the bad setting');
        assert.doesNotMatch(proc.stderr(), /\n\s+at /, 'no stack trace');
      });
    }
  });

  it('exits non-zero with one clear line when the address is taken or the data dir is unusable', async () => {
    const server = await start();
    const notADir = join(await tempDir('file'), 'plain-file');
    await writeFile(notADir, 'not a directory');
    // Both at once: each is a short-lived process.
    const taken = spawnBerth({ env: { BERTH_DATA_DIR: await tempDir('taken'), BERTH_ADMIN_PASSWORD: 'x', BERTH_LISTEN: server.host } });
    const unusable = spawnBerth({ env: { BERTH_DATA_DIR: notADir, BERTH_ADMIN_PASSWORD: 'x', BERTH_LISTEN: '127.0.0.1:0' } });
    const [exit, exit2] = await Promise.all([waitForExit(taken), waitForExit(unusable)]);
    assert.notEqual(exit.code, 0);
    assert.equal(taken.stderr().trim().split('\n').length, 1, `one line:\n${taken.stderr()}`);
    assert.match(taken.stderr(), /EADDRINUSE|in use/i);

    assert.notEqual(exit2.code, 0);
    assert.equal(unusable.stderr().trim().split('\n').length, 1, `one line:\n${unusable.stderr()}`);
    assert.ok(unusable.stderr().includes(notADir), `names the data dir: ${unusable.stderr()}`);
    // The first server is unaffected.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  it('finishes streaming a blob download that is in flight on SIGTERM', async () => {
    const server = await start();
    const auth = { authorization: basicAuth('admin', server.adminPassword!) };
    // Far more than socket buffers hold, so the server is still sending when the signal arrives.
    const blob = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
    const digest = sha256(blob);
    const push = await fetch(`${server.url}/v2/demo/docker/download/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: auth, body: blob });
    assert.equal(push.status, 201, await push.text());

    const get = await fetch(`${server.url}/v2/demo/docker/download/blobs/${digest}`, { headers: auth });
    assert.equal(get.status, 200);
    const reader = get.body!.getReader();
    const first = await reader.read();
    assert.ok(first.value && first.value.length < blob.length, 'the download has started, not finished');
    const stopping = server.stop();
    await server.process.waitForLog((l) => String(l.msg).startsWith('shutting down'), 15_000, 'the shutdown line');
    const hash = createHash('sha256').update(first.value);
    let received = first.value.length;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      received += value.length;
    }
    assert.equal(received, blob.length, 'every byte arrives');
    assert.equal(`sha256:${hash.digest('hex')}`, digest);
    assert.deepEqual(await stopping, { code: 0, signal: null });
  });

  it('keeps what skopeo pushed across a restart on the same data dir', async () => {
    const dataDir = await tempDir('restart');
    const work = await tempDir('restart-work');
    const image = buildImage({ seed: 'restart' });
    await writeOciLayout(join(work, 'layout'), 'v1', image);
    const first = await start({ dataDir });
    const creds = ['--src-tls-verify=false', '--dest-tls-verify=false', '--src-creds', `admin:${first.adminPassword}`, '--dest-creds', `admin:${first.adminPassword}`];
    await skopeoOk(['copy', ...creds, `oci:${join(work, 'layout')}:v1`, `docker://${first.host}/demo/docker/persist:v1`]);
    assert.deepEqual(await first.stop(), { code: 0, signal: null });

    const second = await start({ dataDir });
    const byTag = join(work, 'by-tag');
    await skopeoOk(['copy', ...creds, `docker://${second.host}/demo/docker/persist:v1`, `dir:${byTag}`]);
    const pulled = await readDirPull(byTag);
    assert.equal(pulled.digest, image.digest);
    assert.deepEqual(pulled.layers, image.layers.map((l) => l.digest));
    assert.equal(pulled.configDigest, image.config.digest);
    const byDigest = join(work, 'by-digest');
    await skopeoOk(['copy', ...creds, `docker://${second.host}/demo/docker/persist@${image.digest}`, `dir:${byDigest}`]);
    assert.deepEqual((await readDirPull(byDigest)).layers, image.layers.map((l) => l.digest));
  });

  // A log shipper that restarted, `berth serve | head`, a parent that died: logging must never
  // keep the server from stopping.
  describe('exits promptly on SIGTERM whatever became of the reader of its stdout', () => {
    const STOP_WITHIN_MS = 5_000;

    /** Runs `body` on a fresh server; kills it (by its PID) if it is still alive afterwards. */
    async function withServer(body: (server: ServerProcess) => Promise<void>): Promise<void> {
      const server = await start({ stopTimeoutMs: 10_000 });
      try {
        await body(server);
      } finally {
        if (server.process.exitStatus() === undefined) {
          server.process.child.kill('SIGKILL');
          await server.process.exited;
        }
      }
    }

    /** SIGTERM to the server's PID, then `meanwhile`; the exit must be clean and within STOP_WITHIN_MS. */
    async function assertStopsPromptly(server: ServerProcess, meanwhile: () => Promise<void> = async () => {}): Promise<void> {
      const started = performance.now();
      const stopping = server.stop(); // SIGKILL after stopTimeoutMs
      await meanwhile();
      const exit = await stopping;
      const tookMs = Math.round(performance.now() - started);
      assert.deepEqual(exit, { code: 0, signal: null }, `exits by itself, cleanly (after ${tookMs} ms); stderr:\n${server.process.stderr()}`);
      assert.ok(tookMs < STOP_WITHIN_MS, `exits within ${STOP_WITHIN_MS} ms, took ${tookMs} ms`);
    }

    /** Stops reading the server's stdout and makes it log far more than the pipe holds. */
    async function fillStdout(server: ServerProcess): Promise<void> {
      server.process.child.stdout!.pause();
      const longPath = `/nothing-here/${'x'.repeat(8000)}`; // each request logs its path
      for (let round = 0; round < 30; round++) {
        await Promise.all(Array.from({ length: 10 }, async () => (await fetch(`${server.url}${longPath}`)).arrayBuffer()));
      }
    }

    it('when the reader has gone away before a request logged', () =>
      withServer(async (server) => {
        server.process.child.stdout!.destroy();
        assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
        await assertStopsPromptly(server);
      }));

    it('when the pipe is full and never read', () =>
      withServer(async (server) => {
        await fillStdout(server);
        await assertStopsPromptly(server);
        assert.match(server.process.stderr(), /stdout/, 'says on stderr that log lines were dropped');
      }));

    it('when the pipe is full and the reader goes away while the server stops', () =>
      withServer(async (server) => {
        await fillStdout(server);
        await assertStopsPromptly(server, async () => {
          await sleep(300);
          server.process.child.stdout!.destroy();
        });
      }));
  });

  it('lets an in-flight upload finish on SIGTERM, exits 0, and the data dir reopens with the upload intact', async () => {
    const dataDir = await tempDir('sigterm');
    const server = await start({ dataDir });
    const auth = { authorization: basicAuth('admin', server.adminPassword!) };
    const name = 'demo/docker/slow';

    const post = await fetch(`${server.url}/v2/${name}/blobs/uploads/`, { method: 'POST', headers: auth });
    assert.equal(post.status, 202, await post.text());
    const location = post.headers.get('location')!;
    const uploadUrl = new URL(location, server.url).toString();

    const first = Buffer.alloc(256 * 1024, 'a');
    const second = Buffer.alloc(256 * 1024, 'b');
    const whole = Buffer.concat([first, second]);
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => { controller = c; } });
    controller.enqueue(first);
    const patch = fetch(uploadUrl, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/octet-stream', 'content-range': `0-${whole.length - 1}`, 'content-length': String(whole.length) },
      body,
      duplex: 'half',
    } as RequestInit);

    // The server is inside the request once the upload's status shows received bytes.
    await eventually('the first half to reach the server', async () => {
      const status = await fetch(uploadUrl, { headers: auth });
      await status.arrayBuffer();
      const range = status.headers.get('range');
      return status.status === 204 && range && range !== '0-0' ? range : undefined;
    });

    const stopping = server.stop(); // SIGTERM to the server's PID
    await server.process.waitForLog((l) => String(l.msg).startsWith('shutting down'), 15_000, 'the shutdown line');
    // A second signal, as when a terminal's Ctrl-C reaches both `npm start` and the server and npm
    // forwards it too: the shutdown already under way must carry on, not be cut short.
    server.process.child.kill('SIGTERM');
    await server.process.waitForLog((l) => String(l.msg).includes('already shutting down'), 15_000, 'the second signal to be noticed');
    controller.enqueue(second);
    controller.close();

    const response = await patch;
    assert.equal(response.status, 202, `the in-flight PATCH completes: ${await response.text()}`);
    assert.equal(response.headers.get('range'), `0-${whole.length - 1}`);
    const exit = await stopping;
    assert.deepEqual(exit, { code: 0, signal: null }, `exits cleanly; stderr:\n${server.process.stderr()}`);
    assert.ok(server.logs().some((l) => l.msg === 'stopped'), 'logs that it stopped');

    // Same data dir, new process: the upload is still there and can be finished.
    const reopened = await start({ dataDir });
    const status = await fetch(new URL(location, reopened.url), { headers: auth });
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${whole.length - 1}`);
    const digest = sha256(whole);
    const putUrl = new URL(location, reopened.url);
    putUrl.searchParams.set('digest', digest);
    const put = await fetch(putUrl, { method: 'PUT', headers: auth });
    assert.equal(put.status, 201, await put.text());
    const blob = await fetch(`${reopened.url}/v2/${name}/blobs/${digest}`, { headers: auth });
    assert.equal(blob.status, 200);
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);
    assert.deepEqual(await reopened.stop(), { code: 0, signal: null });
  });
});
