import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { digestHex } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import type { ImageSummary } from '../../metadata/image-store.ts';
import { type ImageBrowser, layerId, type TagDetailView } from '../../registry/image-browser.ts';
import { authenticateBeforeBody, externalBase, requireAccess } from '../access.ts';
import { ok, useEnvelope } from '../envelope.ts';
import type { HttpServices } from '../services.ts';
import { DocEnvelope, ImageItem, ImageParams, PageQuery, ProjectRepoParams, TagDetail, TagItem } from './ext-schemas.ts';
import { formatDate, splitLast, toOffsetPage } from './format.ts';

type Params = { projectId: string; repoName: string; '*'?: string };
type Query = { pageNumber?: number; pageSize?: number; name?: string; tag?: string; stage?: string };
type Req = FastifyRequest<{ Params: Params; Querystring: Query }>;

function imageItem(i: ImageSummary) {
  return { name: i.image, createdBy: i.createdBy, downloadCount: i.downloadCount, createdDate: formatDate(i.createdAt) };
}

function tagDetailData(view: TagDetailView) {
  const { tag, described } = view;
  const facts = described.facts;
  const metadata: Record<string, string> = { ...(facts?.labels ?? {}) };
  metadata['docker.manifest.digest'] = tag.digest;
  metadata['docker.manifest.type'] = tag.mediaType;
  metadata.architecture = facts?.architecture ?? '';
  metadata.created = facts?.created ?? '';
  const data: Record<string, unknown> = {
    basic: {
      size: tag.size,
      sha256: digestHex(described.configDigest ?? described.digest),
      tag: tag.tag,
      os: facts?.os ?? '',
      lastModifiedBy: tag.lastModifiedBy,
      lastModifiedDate: formatDate(tag.lastModifiedAt),
      downloadCount: tag.downloadCount,
    },
    history: facts?.history ?? [],
    metadata,
    layers: (facts?.layers ?? []).map((l) => ({ id: layerId(l.digest), size: l.size })),
  };
  if (tag.facts?.platforms) {
    data.platforms = tag.facts.platforms.map((p) => ({ os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}), digest: p.digest }));
  }
  return data;
}

/** The seed's Docker extension API under /docker/api, in the `{code,message,data,traceId}` envelope. */
export async function extPlugin(app: FastifyInstance, opts: { services: HttpServices; images: ImageBrowser }): Promise<void> {
  const s = opts.services;
  const images = opts.images;
  useEnvelope(app);
  authenticateBeforeBody(app, s);
  // Response schemas document the API; answers are serialized as they are.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  const name = (req: Req) => `${req.params.projectId}/${req.params.repoName}/${req.params['*'] ?? ''}`;
  const imageOf = (req: Req) => {
    const image = req.params['*'] ?? '';
    if (image === '') throw new RegistryError('PARAMETER_INVALID', 'image name is missing');
    return image;
  };

  async function listPage(req: Req, reply: FastifyReply) {
    const { projectId, repoName } = req.params;
    const page = toOffsetPage(req.query.pageNumber, req.query.pageSize);
    const result = await images.images(projectId, repoName, page, req.query.name || undefined);
    reply.header('x-total-count', String(result.total));
    return result.items.map(imageItem);
  }

  app.get<{ Params: Params; Querystring: Query }>('/docker/api/manifest/:projectId/:repoName/*', {
    schema: { summary: 'Manifest of an image by tag or digest, exactly as pushed', params: ImageParams, response: DocEnvelope(Type.String()) },
  }, async (req, reply) => {
    const [image, reference] = splitLast(imageOf(req), 'tag');
    await requireAccess(s, req, `${req.params.projectId}/${req.params.repoName}/${image}`, 'pull');
    const manifest = await images.manifest(req.params.projectId, req.params.repoName, image, reference);
    return ok(req, reply, manifest.content.toString('utf8'));
  });

  app.get<{ Params: Params; Querystring: Query }>('/docker/api/layer/:projectId/:repoName/*', {
    schema: { summary: 'Download a layer (or config) blob of an image; Range honoured', params: ImageParams },
  }, async (req, reply) => {
    const [image, id] = splitLast(imageOf(req), 'Id');
    await requireAccess(s, req, `${req.params.projectId}/${req.params.repoName}/${image}`, 'pull');
    const read = await images.layer(req.params.projectId, req.params.repoName, image, id, req.headers.range);
    reply.header('content-type', 'application/octet-stream').header('accept-ranges', 'bytes');
    if (read.redirect) return reply.code(307).header('location', read.redirect).send();
    if (read.range) {
      reply.code(206).header('content-range', `bytes ${read.range.start}-${read.range.end}/${read.size}`).header('content-length', String(read.range.end - read.range.start + 1));
    } else {
      reply.header('content-length', String(read.size));
    }
    return reply.send(read.body);
  });

  app.get<{ Params: Params; Querystring: Query }>('/docker/api/repo/:projectId/:repoName', {
    schema: {
      summary: 'Images of a repo, sorted by name; total in X-Total-Count',
      params: ProjectRepoParams,
      querystring: Type.Composite([PageQuery, Type.Object({ name: Type.Optional(Type.String({ maxLength: 255, pattern: '^[^\\u0000-\\u001f]*$', description: 'substring filter (no control characters: PostgreSQL refuses NUL, SQLite stops at it)' })) })]),
      response: DocEnvelope(Type.Array(ImageItem)),
    },
  }, async (req, reply) => {
    // Repo-level read: any image name under the repo stands for the repo itself.
    await requireAccess(s, req, `${req.params.projectId}/${req.params.repoName}/*`, 'pull');
    return ok(req, reply, await listPage(req, reply));
  });

  app.delete<{ Params: Params; Querystring: Query }>('/docker/api/repo/:projectId/:repoName/*', {
    schema: { summary: 'Delete an image with all its tags; answers the remaining images (first page)', params: ImageParams, response: DocEnvelope(Type.Array(ImageItem)) },
  }, async (req, reply) => {
    const image = imageOf(req);
    const principal = await requireAccess(s, req, name(req), 'delete');
    await images.deleteImage(req.params.projectId, req.params.repoName, image);
    await s.auth.audit.record({ actor: principal?.name ?? '', action: 'delete', target: name(req), ip: req.ip, detail: 'image with all its tags' });
    const remaining = await images.images(req.params.projectId, req.params.repoName, toOffsetPage(1, undefined));
    reply.header('x-total-count', String(remaining.total));
    return ok(req, reply, remaining.items.map(imageItem));
  });

  app.get<{ Params: Params; Querystring: Query }>('/docker/api/tag/detail/:projectId/:repoName/*', {
    schema: {
      summary: 'Detail of one tag: basic, history, metadata, layers',
      params: ImageParams,
      querystring: Type.Object({ tag: Type.String({ description: 'the tag' }) }),
      response: DocEnvelope(TagDetail),
    },
  }, async (req, reply) => {
    const image = imageOf(req);
    await requireAccess(s, req, name(req), 'pull');
    const view = await images.tagDetail(req.params.projectId, req.params.repoName, image, req.query.tag ?? '');
    return ok(req, reply, tagDetailData(view));
  });

  app.get<{ Params: Params; Querystring: Query }>('/docker/api/tag/:projectId/:repoName/*', {
    schema: { summary: 'Tags of an image, sorted by tag; total in X-Total-Count', params: ImageParams, querystring: PageQuery, response: DocEnvelope(Type.Array(TagItem)) },
  }, async (req, reply) => {
    const image = imageOf(req);
    await requireAccess(s, req, name(req), 'pull');
    const page = toOffsetPage(req.query.pageNumber, req.query.pageSize);
    const result = await images.tags(req.params.projectId, req.params.repoName, image, page);
    reply.header('x-total-count', String(result.total));
    return ok(req, reply, result.items.map((t) => ({
      tag: t.tag,
      status: t.stage,
      size: t.size,
      downloadCount: t.downloadCount,
      lastModifiedBy: t.lastModifiedBy,
      lastModifiedDate: formatDate(t.lastModifiedAt),
    })));
  });

  app.delete<{ Params: Params; Querystring: Query }>('/docker/api/tag/:projectId/:repoName/*', {
    schema: { summary: 'Delete one tag of an image (the manifest stays until GC)', params: ImageParams, querystring: Type.Object({ tag: Type.String() }), response: DocEnvelope(Type.Null()) },
  }, async (req, reply) => {
    const image = imageOf(req);
    const principal = await requireAccess(s, req, name(req), 'delete-tag');
    await images.deleteTag(req.params.projectId, req.params.repoName, image, req.query.tag);
    await s.auth.audit.record({ actor: principal?.name ?? '', action: 'delete', target: name(req), ip: req.ip, detail: `tag ${req.query.tag}` });
    return ok(req, reply, null);
  });

  app.post<{ Params: Params; Querystring: Query }>('/docker/api/stage/:projectId/:repoName/*', {
    schema: {
      summary: 'Move a tag forward to @prerelease or @release',
      params: ImageParams,
      querystring: Type.Object({ tag: Type.String(), stage: Type.String({ description: '@prerelease or @release' }) }),
      response: DocEnvelope(Type.Object({ tag: Type.String(), status: Type.String() })),
    },
  }, async (req, reply) => {
    const image = imageOf(req);
    const principal = await requireAccess(s, req, name(req), 'push');
    const stage = await images.setStage(req.params.projectId, req.params.repoName, image, req.query.tag, req.query.stage);
    await s.auth.audit.record({ actor: principal?.name ?? '', action: 'stage', target: name(req), ip: req.ip, detail: `tag ${req.query.tag} -> ${stage}` });
    return ok(req, reply, { tag: req.query.tag, status: stage });
  });

  app.get('/docker/api/addr', {
    schema: { summary: 'The registry address to use in docker pull/push', response: DocEnvelope(Type.String()) },
  }, async (req, reply) => ok(req, reply, new URL(externalBase(s, req)).host));
}
