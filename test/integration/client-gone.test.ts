/**
 * A client that goes away mid-request is not a server error: logged at info, never as
 * `request failed` at error level, and the server goes on serving the upload.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { buildApp, type BerthApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';
import { relative } from '../support/oci-fixtures.ts';
import { head } from '../support/raw-http.ts';
import { ADMIN_PASSWORD, basic } from '../support/test-server.ts';

describe('a client that goes away mid-request', () => {
  const lines: { level: number; msg: string; err?: { code?: string } }[] = [];
  let app: BerthApp;
  let baseUrl: string;
  let dataDir: string;
  const authorization = basic('admin', ADMIN_PASSWORD);

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-test-'));
    const config = loadConfig({ env: { BERTH_DATA_DIR: dataDir, BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, BERTH_LISTEN: '127.0.0.1:0', BERTH_LOG_LEVEL: 'info' } });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    app = await buildApp(config, pino({ level: 'info' }, sink));
    baseUrl = await app.http.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Sends the head and `sent` of a body that claims `length` bytes, then closes the connection. */
  async function cutShort(method: string, path: string, length: number, sent: string): Promise<void> {
    const { port } = new URL(baseUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(head(method, path, { host: 'localhost', authorization, 'content-length': length, 'content-type': 'application/octet-stream' }) + sent);
    await sleep(100);
    socket.destroy();
  }

  it('a PATCH or a monolithic POST cut short is logged at info, and the upload goes on', async () => {
    const started = await fetch(`${baseUrl}/v2/demo/docker/gone/blobs/uploads/`, { method: 'POST', headers: { authorization } });
    assert.equal(started.status, 202);
    const location = relative(started.headers.get('location')!);
    await cutShort('PATCH', location, 1000, 'abc');
    await cutShort('POST', `/v2/demo/docker/gone/blobs/uploads/?digest=sha256:${'0'.repeat(64)}`, 1000, 'abc');
    await cutShort('PUT', '/v2/demo/docker/gone/manifests/v1', 1000, '{"schemaVersion"');
    for (let i = 0; i < 50 && lines.filter((l) => l.msg === 'client went away before the answer').length < 3; i++) await sleep(20);

    const errors = lines.filter((l) => l.level >= 50);
    assert.deepEqual(errors, [], 'nothing logged as an error');
    assert.equal(lines.filter((l) => l.msg === 'client went away before the answer').length, 3, JSON.stringify(lines));
    const status = await fetch(`${baseUrl}${location}`, { headers: { authorization } });
    assert.equal(status.status, 204, 'the session is still there for the client to resume');
  });
});
