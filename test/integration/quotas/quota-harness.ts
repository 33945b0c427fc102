import { describe } from 'node:test';
import { freshSchema, withSchema } from '../../support/postgres.ts';
import { startTestServer, type TestServer } from '../../support/test-server.ts';

export interface Envelope<T = unknown> {
  code: number;
  message: string | null;
  data: T;
  traceId: string;
}

export interface OciErrors {
  errors: { code: string; message: string; detail?: unknown }[];
}

export const json = (server: TestServer, path: string, body: unknown, method = 'POST') =>
  server.fetch(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

export async function data<T>(res: Response): Promise<T> {
  const env = (await res.json()) as Envelope<T>;
  if (env.code !== 0) throw new Error(`HTTP ${res.status}: ${env.message}`);
  return env.data;
}

/** Monolithic blob upload; the response as it came. */
export const uploadBlob = (server: TestServer, name: string, bytes: Buffer, digest: string) =>
  server.fetch(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: new Uint8Array(bytes) });

export const putManifest = (server: TestServer, name: string, reference: string, manifest: Buffer, mediaType: string) =>
  server.fetch(`/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: new Uint8Array(manifest) });

export interface Backend {
  label: string;
  start(env?: Record<string, string>): Promise<TestServer>;
}

/**
 * Runs `suite` on SQLite, and on PostgreSQL too when BERTH_TEST_DATABASE_URL is set (each server
 * in a fresh schema, dropped when the server closes).
 */
export function onBothDatabases(title: string, suite: (backend: Backend) => void): void {
  describe(`${title} (SQLite)`, () => suite({ label: 'sqlite', start: (env = {}) => startTestServer(env) }));
  const url = process.env.BERTH_TEST_DATABASE_URL;
  describe(`${title} (PostgreSQL)`, { skip: url ? false : 'BERTH_TEST_DATABASE_URL is not set' }, () =>
    suite({
      label: 'postgres',
      async start(env = {}) {
        const { schema, drop } = await freshSchema(url!);
        const server = await startTestServer({ ...env, BERTH_DATABASE_URL: withSchema(url!, schema) });
        const close = server.close.bind(server);
        server.close = async () => {
          await close();
          await drop();
        };
        return server;
      },
    }),
  );
}
