/** The `/v2` endpoints, matched on the raw path because repository names contain slashes. */
export type OciRoute =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'referrers'; name: string; digest: string };

export type RouteKind = OciRoute['kind'];

/** The metrics label of each endpoint (a constant string: nothing built per request). */
export const ROUTE_METRIC_KIND: Record<RouteKind, string> = {
  base: 'oci.base',
  catalog: 'oci.catalog',
  tags: 'oci.tags',
  manifest: 'oci.manifest',
  uploads: 'oci.uploads',
  upload: 'oci.upload',
  blob: 'oci.blob',
  referrers: 'oci.referrers',
};

/** Methods each endpoint answers; anything else is 405. */
export const ALLOWED_METHODS: Record<RouteKind, readonly string[]> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET', 'HEAD'],
  tags: ['GET', 'HEAD'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  uploads: ['POST'],
  upload: ['GET', 'HEAD', 'PATCH', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD', 'DELETE'],
  referrers: ['GET', 'HEAD'],
};

/**
 * Each pattern with a literal it cannot match without: the pattern runs only on a path that
 * contains it. The `(.+)` name group makes a failing pattern scan the whole path back and forth,
 * and a blob path failed five patterns before its own.
 */
const PATTERNS: [RegExp, string, (m: RegExpExecArray) => OciRoute][] = [
  [/^\/v2\/?$/, '/v2', () => ({ kind: 'base' })],
  [/^\/v2\/_catalog\/?$/, '/_catalog', () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/tags\/list\/?$/, '/tags/list', (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, '/manifests/', (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, '/blobs/uploads', (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, '/blobs/uploads/', (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, '/blobs/', (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, '/referrers/', (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

/** The route for a raw path (no query); undefined when nothing matches. The last segment is URL-decoded. */
export function matchOciRoute(path: string): OciRoute | undefined {
  for (const [pattern, literal, build] of PATTERNS) {
    if (!path.includes(literal)) continue;
    const m = pattern.exec(path);
    if (!m) continue;
    const route = build(m);
    if ('reference' in route) route.reference = safeDecode(route.reference);
    if ('digest' in route) route.digest = safeDecode(route.digest);
    return route;
  }
  return undefined;
}

function safeDecode(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
