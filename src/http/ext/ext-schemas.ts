import { type TSchema, Type } from '@sinclair/typebox';

/** `{code, message, data, traceId}` around a data schema. */
export function envelope(data: TSchema) {
  return Type.Object({
    code: Type.Integer({ description: '0 on success; bk-repo style error number otherwise' }),
    message: Type.Union([Type.String(), Type.Null()]),
    data,
    traceId: Type.String(),
  });
}

export const ErrorEnvelope = envelope(Type.Null());

export const ProjectRepoParams = Type.Object({
  projectId: Type.String({ description: 'project id' }),
  repoName: Type.String({ description: 'repo name' }),
});

export const ImageParams = Type.Object({
  projectId: Type.String(),
  repoName: Type.String(),
  '*': Type.String({ description: 'image name (may contain /)' }),
});

export const PageQuery = Type.Object({
  pageNumber: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1, description: '1-based; 0 means 1' })),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20 })),
});

export const Date = Type.String({ description: 'UTC, e.g. 2020-08-28 04:07:12.672Z' });

export const ImageItem = Type.Object({
  name: Type.String(),
  createdBy: Type.String(),
  downloadCount: Type.Integer(),
  createdDate: Date,
});

export const TagItem = Type.Object({
  tag: Type.String(),
  status: Type.String({ description: '"", "@prerelease" or "@release"' }),
  size: Type.Integer(),
  downloadCount: Type.Integer(),
  lastModifiedBy: Type.String(),
  lastModifiedDate: Date,
});

export const TagDetail = Type.Object({
  basic: Type.Object({
    size: Type.Integer(),
    sha256: Type.String(),
    tag: Type.String(),
    os: Type.String(),
    lastModifiedBy: Type.String(),
    lastModifiedDate: Date,
    downloadCount: Type.Integer(),
  }),
  history: Type.Array(Type.String()),
  metadata: Type.Record(Type.String(), Type.String()),
  layers: Type.Array(Type.Object({ id: Type.String(), size: Type.Integer() })),
  platforms: Type.Optional(
    Type.Array(Type.Object({ os: Type.String(), architecture: Type.String(), variant: Type.Optional(Type.String()), digest: Type.String() })),
  ),
});

/** Response schemas only document: they are not used to serialize (that would drop fields silently). */
export function DocEnvelope(data: TSchema) {
  return { 200: envelope(data), "4xx": ErrorEnvelope };
}
