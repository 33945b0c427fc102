import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildApp, type BerthApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';

export const ADMIN_PASSWORD = 'test-admin-password';

export interface TestServer {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  baseUrl: string;
  /** `Basic ...` for the admin user. */
  authorization: string;
  dataDir: string;
  app: BerthApp;
  /** fetch() relative to baseUrl with the admin's credentials unless `headers.authorization` is given (use '' for none). */
  fetch(path: string, init?: TestRequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** RequestInit that also takes Node Buffers as bodies. */
export type TestRequestInit = Omit<RequestInit, 'body'> & { body?: RequestInit['body'] | Buffer | Uint8Array };

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Starts an in-process Berth on a random loopback port with a fresh data dir. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-test-'));
  const config = loadConfig({
    env: { BERTH_DATA_DIR: dataDir, BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, BERTH_LISTEN: '127.0.0.1:0', BERTH_LOG_LEVEL: 'silent', ...env },
  });
  const app = await buildApp(config, pino({ level: config.logLevel }));
  const address = await app.http.listen({ host: '127.0.0.1', port: 0 });
  const authorization = basic('admin', ADMIN_PASSWORD);
  return {
    baseUrl: address,
    authorization,
    dataDir,
    app,
    fetch(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', authorization);
      else if (headers.get('authorization') === '') headers.delete('authorization');
      const body = Buffer.isBuffer(init.body) ? new Uint8Array(init.body.buffer, init.body.byteOffset, init.body.byteLength) : init.body;
      return fetch(`${address}${path}`, { ...init, body, headers, ...(body ? { duplex: 'half' } : {}) } as RequestInit);
    },
    async close() {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
