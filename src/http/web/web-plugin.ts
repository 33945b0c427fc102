import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { packageRoot } from '../../runtime/package-root.ts';
import { notFound } from '../envelope.ts';

/** `web/dist` of the checkout the server runs from; undefined outside one (then the UI is not built). */
export function defaultWebRoot(): string | undefined {
  const root = packageRoot();
  return root === undefined ? undefined : join(root, 'web', 'dist');
}

/** Paths the UI never answers: the registry and its APIs keep their own 404s. */
const RESERVED = ['/v2', '/docker/api', '/repository/api', '/auth/api', '/healthz', '/readyz', '/metrics'];

/** The UI's client-side routes (see web/src/router.ts); a reload on one of them gets index.html. */
const UI_ROUTES = ['/login', '/p/', '/tokens'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Berth</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5">
<h1>Berth is running</h1>
<p>The web UI has not been built. Build it with <code>npm run build</code> (or <code>npm run build:web</code>) in the repository, then reload.</p>
<p>The registry (<code>/v2/</code>) and the APIs (<code>/docker/api</code>, <code>/repository/api</code>, <code>/auth/api</code>) work without it.</p>
</body></html>`;

function isReserved(path: string): boolean {
  return RESERVED.some((p) => path === p || path.startsWith(`${p}/`));
}

/**
 * Serves the built web UI (static files of `web/dist`) at `/`, with index.html for the UI's own
 * routes. Only GET/HEAD, only files inside the root, never under the API prefixes. Without a build
 * `/` explains how to make one. Hashed assets are cached for a year; index.html never.
 */
export async function webPlugin(app: FastifyInstance, opts: { root?: string } = {}): Promise<void> {
  const configured = opts.root ?? defaultWebRoot();
  const root = configured === undefined ? undefined : resolve(configured);

  async function file(path: string): Promise<{ full: string; size: number } | undefined> {
    if (root === undefined) return undefined;
    const full = resolve(join(root, path));
    if (full !== root && !full.startsWith(root + sep)) return undefined;
    try {
      const st = await stat(full);
      return st.isFile() ? { full, size: st.size } : undefined;
    } catch {
      return undefined;
    }
  }

  async function send(reply: FastifyReply, found: { full: string; size: number }, immutable: boolean): Promise<FastifyReply> {
    reply
      .headers(SECURITY_HEADERS)
      .header('content-type', TYPES[extname(found.full)] ?? 'application/octet-stream')
      .header('content-length', String(found.size))
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    return reply.send(createReadStream(found.full));
  }

  async function index(_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const found = await file('index.html');
    if (!found) return reply.headers(SECURITY_HEADERS).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(NOT_BUILT);
    return send(reply, found, false);
  }

  const hide = { schema: { hide: true } };
  app.get('/', hide, index);
  for (const route of UI_ROUTES) {
    if (route.endsWith('/')) app.get(`${route}*`, hide, index);
    else app.get(route, hide, index);
  }
  // Built files: /assets/<hashed> and a few top-level ones (favicon). Reserved prefixes never get here
  // because their own routes are more specific; the check keeps it so if a route is missing.
  app.get<{ Params: { '*': string } }>('/assets/*', hide, async (req, reply) => {
    const found = await file(join('assets', req.params['*']));
    if (!found) return notFound(req, reply);
    return send(reply, found, true);
  });
  app.get<{ Params: { file: string } }>('/:file', hide, async (req, reply) => {
    const name = req.params.file;
    if (isReserved(`/${name}`) || !/^[\w.-]+\.(svg|png|ico|txt|json)$/.test(name)) return notFound(req, reply);
    const found = await file(name);
    if (!found) return notFound(req, reply);
    return send(reply, found, false);
  });
}
