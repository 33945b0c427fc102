import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { type Action, isAuthenticated, type Principal } from '../../auth/principal.ts';
import { parseDigest } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import { MAX_MANIFEST_BYTES } from '../../domain/manifest.ts';
import { MediaType } from '../../domain/media-types.ts';
import { parseRepositoryName } from '../../domain/names.ts';
import { MAX_PAGE, parsePageQuery } from '../../registry/listings.ts';
import type { ChunkRange, PushContext } from '../../registry/uploads.ts';
import { ByteBudget } from '../byte-budget.ts';
import type { HttpServices } from '../services.ts';
import { bearerChallenge, repositoryScope, requestBase } from '../token/challenge.ts';
import { answerOciError } from './oci-errors.ts';
import { ALLOWED_METHODS, matchOciRoute, type OciRoute, ROUTE_METRIC_KIND } from './oci-router.ts';

const API_VERSION = 'registry/2.0';

/** A Content-Type Fastify accepts (`type/subtype`, then optional parameters), as its own parser decides. */
const MEDIA_TYPE = /^\s*[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+\s*(?:;|$)/;

declare module 'fastify' {
  interface FastifyRequest {
    /** A Content-Type header Fastify would have refused, set aside by the /v2 scope (see ociPlugin). */
    contentTypeAsSent: string | undefined;
  }
}

interface Ctx {
  req: FastifyRequest;
  reply: FastifyReply;
  /** Read only: requests without a query string share NO_QUERY. */
  query: Query;
  principal: Principal | undefined;
  head: boolean;
}

type Query = Pick<URLSearchParams, 'get' | 'getAll'>;

/** The query of every request without one (most): building an empty URLSearchParams costs more than the lookups it serves. */
const NO_QUERY: Query = Object.freeze({ get: (): null => null, getAll: (): string[] => [] });

function requiredAction(route: OciRoute, method: string): Action | undefined {
  switch (route.kind) {
    case 'base':
    case 'catalog':
      return undefined;
    case 'manifest':
      // Deleting by tag removes the tag only (developers may); by digest, the manifest.
      if (method === 'DELETE') return route.reference.includes(':') ? 'delete' : 'delete-tag';
      return method === 'PUT' ? 'push' : 'pull';
    case 'blob':
      return method === 'DELETE' ? 'delete' : 'pull';
    case 'uploads':
    case 'upload':
      return 'push';
    default:
      return 'pull';
  }
}

function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

function contentLength(req: FastifyRequest): number | undefined {
  const length = req.headers['content-length'];
  if (length === undefined) return undefined;
  const n = Number(length);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** `Content-Range: <start>-<end>` as the spec writes it; `bytes ` prefixes and `/total` tolerated. */
function parseContentRange(header: string | undefined): ChunkRange | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Range must be <start>-<end>', { contentRange: header.slice(0, 100) }, { status: 416 });
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

/** A query parameter given at most once; a repeated one is ambiguous (which digest did the client mean?). */
function singleParam(query: Query, key: string): string | undefined {
  const values = query.getAll(key);
  if (values.length > 1) throw new RegistryError('DIGEST_INVALID', `${key} is given ${values.length} times`);
  return values[0];
}

/** Whether an If-None-Match value (`*`, or entity tags, weak or strong, comma-separated) names `etag` (weak comparison). */
export function etagListMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return (t.startsWith('W/') ? t.slice(2) : t) === etag;
  });
}

/**
 * Manifest bytes all requests may hold in memory at once while their bodies arrive: 16 manifests
 * of the largest size. Without a bound, clients that send all but the last byte of 4 MiB
 * manifests and stall held 4 MiB each until the idle timeout (150 of them: RSS 690 MiB).
 */
export const MANIFEST_BUFFER_BUDGET = 16 * MAX_MANIFEST_BYTES;
const manifestBuffers = new ByteBudget(MANIFEST_BUFFER_BUDGET);

/**
 * How long a manifest's body may take to arrive once its reading starts. The idle timeout alone
 * does not bound it: a pusher trickling a byte now and then never goes idle, and 16 of them held
 * MANIFEST_BUFFER_BUDGET, every other manifest push answering 429, for as long as they liked.
 * A 4 MiB manifest arrives within it at 70 KB/s; real ones are a few KiB.
 */
export const MANIFEST_BODY_MS = 60_000;

const manifestTooLarge = (limit: number): RegistryError =>
  new RegistryError('MANIFEST_INVALID', `manifest is larger than ${limit} bytes`, undefined, { status: 413 });

/**
 * Reads a body of at most `limit` bytes, each chunk taken from `budget` until the read ends; 413
 * past the limit, 429 when the budget has no room, 408 when it has not ended `deadlineMs` after
 * the read began. Past any of them it stops reading but leaves the request alone: destroying it
 * would take its socket, and the answer with it (the connection is closed after the answer, see
 * connection-reuse.ts).
 */
export function readLimited(stream: Readable, limit: number, budget: ByteBudget, deadlineMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const settle = (err?: Error): void => {
      clearTimeout(deadline);
      stream.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose);
      budget.give(total);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, total));
    };
    const refuse = (err: RegistryError): void => {
      stream.pause();
      settle(err);
    };
    const onData = (chunk: Buffer): void => {
      if (total + chunk.length > limit) return refuse(manifestTooLarge(limit));
      if (!budget.take(chunk.length)) {
        return refuse(new RegistryError('TOOMANYREQUESTS', 'too many manifests are being received at once; retry shortly', undefined, { headers: { 'retry-after': '1' } }));
      }
      total += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = (): void => settle();
    // 'end' comes before 'close': a close first is a client gone mid-body.
    const onClose = (): void => settle(Object.assign(new Error('request body cut short'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    const deadline = setTimeout(() => {
      refuse(new RegistryError('MANIFEST_INVALID', `the manifest did not arrive within ${deadlineMs / 1000} s`, undefined, { status: 408 }));
    }, deadlineMs);
    if (stream.destroyed) return onClose();
    stream.on('data', onData).on('end', onEnd).on('error', settle).on('close', onClose);
  });
}

/** The `/v2` API: the OCI Distribution Specification, behind authentication and authorization. */
export async function ociPlugin(app: FastifyInstance, opts: { services: HttpServices }): Promise<void> {
  const s = opts.services;
  // Bodies are streamed by the handlers themselves: no parser may consume them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));
  // Fastify refuses a request whose Content-Type is empty or not `type/subtype` with its own 415,
  // before any handler: a POST starting an upload with `Content-Type: ` failed so. Nothing here
  // parses a body by its type (blobs are bytes; a manifest's type is checked against its
  // mediaType), so such a header is set aside for the handler and hidden from Fastify's parser.
  app.decorateRequest('contentTypeAsSent', undefined);
  app.addHook('onRequest', (req, _reply, done) => {
    const type = req.headers['content-type'];
    if (type !== undefined && !MEDIA_TYPE.test(type)) {
      req.contentTypeAsSent = type;
      delete req.headers['content-type'];
    }
    done();
  });
  // Anything Fastify refuses before the handler still answers in the /v2 error format.
  app.setErrorHandler((err, req, reply) => answerOciError(req, reply, err));

  const location = (path: string): string => `${s.options.baseUrl ?? ''}${path}`;

  function challenge(req: FastifyRequest, reply: FastifyReply, scope?: string, error?: 'insufficient_scope' | 'invalid_token'): void {
    reply.header('www-authenticate', bearerChallenge(requestBase(s.options.baseUrl, req), scope, error));
  }

  /**
   * Anonymous and not allowed: 401 with a challenge. A bearer token lacking a grant the caller's
   * roles would give: 401 insufficient_scope, so the client fetches a wider token. Otherwise 403.
   */
  async function authorize(ctx: Ctx, name: string, action: Action): Promise<void> {
    const granted = await s.authorizer.authorize(ctx.principal, name, [action]);
    if (granted.includes(action)) return;
    const detail = [{ Type: 'repository', Name: name, Action: action === 'delete-tag' ? 'delete' : action }];
    const { principal } = ctx;
    // A mount also needs pull on its source: name both, so one token covers the whole request.
    const from = ctx.query.get('mount') !== null ? ctx.query.get('from') : null;
    const scope = repositoryScope(name, action) + (from && isMountSource(from) ? ` ${repositoryScope(from, 'pull')}` : '');
    const rolesAllow = principal?.grants !== undefined && (await s.authorizer.authorize({ ...principal, grants: undefined } as Principal, name, [action])).includes(action);
    if (!isAuthenticated(principal) || rolesAllow) {
      challenge(ctx.req, ctx.reply, scope, principal?.grants ? 'insufficient_scope' : undefined);
      throw new RegistryError('UNAUTHORIZED', undefined, detail);
    }
    await s.auth.audit.record({ actor: principal.name, action: 'denied', target: name, ip: ctx.req.ip, detail: `${ctx.req.method} needs ${action}` });
    throw new RegistryError('DENIED', `${principal.name} may not ${action === 'delete-tag' ? 'delete tags of' : action} ${name}`, detail);
  }

  /** A `from` worth naming in a challenge: a valid repository name (anything else only falls back to an upload). */
  function isMountSource(from: string): boolean {
    try {
      parseRepositoryName(from);
      return true;
    } catch {
      return false;
    }
  }

  function pushContext(ctx: Ctx): PushContext {
    return { actor: ctx.principal?.name ?? 'anonymous', mayCreate: s.authorizer.mayCreateNamespaces(ctx.principal) };
  }

  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    reply.header('docker-distribution-api-version', API_VERSION);
    const head = req.method === 'HEAD';
    try {
      const url = req.url;
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const route = matchOciRoute(path);
      if (!route) throw new RegistryError('UNSUPPORTED', `no endpoint ${path.slice(0, 200)}`, undefined, { status: 404 });
      req.routeKind = ROUTE_METRIC_KIND[route.kind];
      if (!ALLOWED_METHODS[route.kind].includes(req.method)) {
        reply.header('allow', ALLOWED_METHODS[route.kind].join(', '));
        throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on this endpoint`, undefined, { status: 405 });
      }
      let principal: Principal | undefined;
      try {
        principal = await s.authenticator.authenticate(req.headers.authorization, { ip: req.ip, uid: req.headers['x-bkrepo-uid'] as string | undefined });
      } catch (err) {
        challenge(req, reply, undefined, req.headers.authorization?.toLowerCase().startsWith('bearer ') ? 'invalid_token' : undefined);
        throw err;
      }
      const ctx: Ctx = { req, reply, query: q === -1 ? NO_QUERY : new URLSearchParams(url.slice(q + 1)), principal, head };
      if ('name' in route) parseRepositoryName(route.name);
      const action = requiredAction(route, req.method);
      if (action && 'name' in route) await authorize(ctx, route.name, action);
      else if (!principal) {
        challenge(req, reply, route.kind === 'catalog' ? 'registry:catalog:*' : undefined);
        throw new RegistryError('UNAUTHORIZED');
      } else if (route.kind === 'catalog' && !s.authorizer.mayListCatalog(principal)) {
        challenge(req, reply, 'registry:catalog:*', 'insufficient_scope');
        throw new RegistryError('UNAUTHORIZED', undefined, [{ Type: 'registry', Name: 'catalog', Action: '*' }]);
      }
      return await dispatch(ctx, route);
    } catch (err) {
      return answerOciError(req, reply, err);
    }
  };

  async function dispatch(ctx: Ctx, route: OciRoute): Promise<unknown> {
    const { reply } = ctx;
    switch (route.kind) {
      case 'base':
        return reply.type('application/json').send('{}');
      case 'catalog': {
        const page = parsePageQuery(ctx.query.get('n') ?? undefined, ctx.query.get('last') ?? undefined);
        const result = await s.listings.catalog(page, (name) => s.authorizer.visibleInCatalog(ctx.principal, name));
        if (result.next !== undefined) {
          reply.header('link', `</v2/_catalog?n=${page.n ?? MAX_PAGE}&last=${encodeURIComponent(result.next)}>; rel="next"`);
        }
        return reply.type('application/json').send(JSON.stringify({ repositories: result.items }));
      }
      case 'tags': {
        const page = parsePageQuery(ctx.query.get('n') ?? undefined, ctx.query.get('last') ?? undefined);
        const result = await s.listings.tags(route.name, page);
        if (result.next !== undefined) {
          reply.header('link', `</v2/${route.name}/tags/list?n=${page.n ?? MAX_PAGE}&last=${encodeURIComponent(result.next)}>; rel="next"`);
        }
        return reply.type('application/json').send(JSON.stringify({ name: route.name, tags: result.items }));
      }
      case 'manifest':
        return manifestRoute(ctx, route.name, route.reference);
      case 'blob':
        return blobRoute(ctx, route.name, route.digest);
      case 'uploads':
        return startUpload(ctx, route.name);
      case 'upload':
        return uploadRoute(ctx, route.name, route.id);
      case 'referrers': {
        const digest = parseDigest(route.digest);
        const artifactType = ctx.query.get('artifactType') || undefined; // `?artifactType=` filters nothing
        const result = await s.listings.referrers(route.name, digest, artifactType);
        if (result.filtered) reply.header('oci-filters-applied', 'artifactType');
        // A Buffer, so Fastify sends the media type exactly as the spec names it (no charset).
        return reply.type(MediaType.OciIndex).send(Buffer.from(JSON.stringify(result.index)));
      }
    }
  }

  async function manifestRoute(ctx: Ctx, name: string, reference: string): Promise<unknown> {
    const { req, reply } = ctx;
    if (req.method === 'PUT') {
      const declared = contentLength(req);
      if (declared !== undefined && declared > MAX_MANIFEST_BYTES) throw manifestTooLarge(MAX_MANIFEST_BYTES);
      const body = await readLimited(req.raw, MAX_MANIFEST_BYTES, manifestBuffers, MANIFEST_BODY_MS);
      const result = await s.manifests.put(name, reference, body, req.headers['content-type'] ?? req.contentTypeAsSent, pushContext(ctx));
      await s.auth.audit.record({ actor: ctx.principal?.name ?? '', action: 'push', target: name, ip: req.ip, detail: `${reference} ${result.digest}` });
      reply.code(201).header('location', location(`/v2/${name}/manifests/${result.digest}`)).header('docker-content-digest', result.digest);
      if (result.subject) reply.header('oci-subject', result.subject);
      return reply.header('content-length', '0').send();
    }
    if (req.method === 'DELETE') {
      await s.manifests.delete(name, reference);
      await s.auth.audit.record({ actor: ctx.principal?.name ?? '', action: 'delete', target: name, ip: req.ip, detail: `manifest ${reference}` });
      return reply.code(202).header('content-length', '0').send();
    }
    const manifest = await s.manifests.get(name, reference, req.headers.accept);
    const etag = `"${manifest.digest}"`;
    reply.header('docker-content-digest', manifest.digest).header('etag', etag);
    const ifNoneMatch = req.headers['if-none-match'];
    // The client's cached copy is current (RFC 9110 13.1.2): no body, not a download.
    if (ifNoneMatch !== undefined && etagListMatches(ifNoneMatch, etag)) return reply.code(304).send();
    reply.header('content-type', manifest.mediaType).header('content-length', String(manifest.content.length));
    if (ctx.head) return reply.send();
    // One download per manifest GET, for the image and, when pulled by tag, for the tag.
    s.downloads.record(name, reference.includes(':') ? undefined : reference);
    return reply.send(manifest.content);
  }

  async function blobRoute(ctx: Ctx, name: string, rawDigest: string): Promise<unknown> {
    const { req, reply } = ctx;
    const digest = parseDigest(rawDigest);
    if (req.method === 'DELETE') {
      await s.blobs.delete(name, digest);
      await s.auth.audit.record({ actor: ctx.principal?.name ?? '', action: 'delete', target: name, ip: req.ip, detail: `blob ${digest}` });
      return reply.code(202).header('content-length', '0').send();
    }
    if (ctx.head) {
      const size = await s.blobs.stat(name, digest);
      return reply
        .header('content-length', String(size))
        .header('content-type', 'application/octet-stream')
        .header('docker-content-digest', digest)
        .header('accept-ranges', 'bytes')
        .send();
    }
    const read = await s.blobs.read(name, digest, req.headers.range);
    reply.header('docker-content-digest', digest).header('accept-ranges', 'bytes');
    if (read.redirect) return reply.code(307).header('location', read.redirect).send();
    reply.header('content-type', 'application/octet-stream').header('etag', `"${digest}"`);
    if (read.range) {
      reply
        .code(206)
        .header('content-range', `bytes ${read.range.start}-${read.range.end}/${read.size}`)
        .header('content-length', String(read.range.end - read.range.start + 1));
    } else {
      reply.header('content-length', String(read.size));
    }
    return reply.send(read.body);
  }

  function uploadAccepted(reply: FastifyReply, name: string, id: string, offset: number, code: number): FastifyReply {
    return reply
      .code(code)
      .header('location', location(`/v2/${name}/blobs/uploads/${id}`))
      .header('range', `0-${Math.max(0, offset - 1)}`)
      .header('docker-upload-uuid', id)
      .header('blob-upload-session-id', id)
      .header('content-length', '0')
      .send();
  }

  function blobCreated(reply: FastifyReply, name: string, digest: string): FastifyReply {
    return reply
      .code(201)
      .header('location', location(`/v2/${name}/blobs/${digest}`))
      .header('docker-content-digest', digest)
      .header('content-length', '0')
      .send();
  }

  async function startUpload(ctx: Ctx, name: string): Promise<unknown> {
    const { req, reply, query } = ctx;
    const push = pushContext(ctx);
    const mount = query.get('mount');
    const from = query.get('from');
    if (mount !== null && from !== null && !hasBody(req)) {
      const digest = parseDigest(mount, 'mount');
      const mounted = await s.uploads.mount(name, digest, from, push, async (source) => {
        try {
          parseRepositoryName(source);
        } catch {
          return false;
        }
        return (await s.authorizer.authorize(ctx.principal, source, ['pull'])).includes('pull');
      });
      if (mounted) return blobCreated(reply, name, digest);
    }
    const digestParam = singleParam(query, 'digest');
    if (digestParam !== undefined) {
      const digest = parseDigest(digestParam);
      await s.uploads.monolithic(name, digest, req.raw, push);
      return blobCreated(reply, name, digest);
    }
    const upload = await s.uploads.start(name, push);
    return uploadAccepted(reply, name, upload.id, 0, 202);
  }

  async function uploadRoute(ctx: Ctx, name: string, id: string): Promise<unknown> {
    try {
      return await uploadSession(ctx, name, id);
    } catch (err) {
      // A refused chunk (416) tells the client where to resume: the session URL and its Range.
      if (err instanceof RegistryError && err.status === 416) {
        ctx.reply.header('location', location(`/v2/${name}/blobs/uploads/${id}`)).header('blob-upload-session-id', id);
      }
      throw err;
    }
  }

  async function uploadSession(ctx: Ctx, name: string, id: string): Promise<unknown> {
    const { req, reply, query } = ctx;
    switch (req.method) {
      case 'GET':
      case 'HEAD': {
        const state = await s.uploads.status(name, id);
        return uploadAccepted(reply, name, id, state.offset, 204);
      }
      case 'PATCH': {
        const range = parseContentRange(req.headers['content-range']);
        const state = await s.uploads.append(name, id, req.raw, range, contentLength(req));
        return uploadAccepted(reply, name, id, state.offset, 202);
      }
      case 'PUT': {
        const digest = parseDigest(singleParam(query, 'digest'));
        const range = parseContentRange(req.headers['content-range']);
        const body = hasBody(req) ? req.raw : undefined;
        await s.uploads.finish(name, id, digest, body, range, contentLength(req));
        return blobCreated(reply, name, digest);
      }
      default: {
        await s.uploads.cancel(name, id);
        return reply.code(204).header('content-length', '0').send();
      }
    }
  }

  app.all('/v2', handler);
  app.all('/v2/*', handler);
}
