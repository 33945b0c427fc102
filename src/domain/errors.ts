/**
 * The one error table. Use cases throw `RegistryError(code, message?, detail?)`; only the HTTP
 * edges turn it into a body: `/v2` as `{"errors":[...]}`, the management APIs as the envelope.
 */
export const ERROR_TABLE = {
  // OCI distribution-spec codes
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry', ext: 250108 },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid', ext: 250105 },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry', ext: 250108 },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content', ext: 251908 },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry', ext: 251907 },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid', ext: 251907 },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry', ext: 250108 },
  NAME_INVALID: { status: 400, message: 'invalid repository name', ext: 250105 },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry', ext: 250108 },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length', ext: 250105 },
  UNAUTHORIZED: { status: 401, message: 'authentication required', ext: 250114 },
  DENIED: { status: 403, message: 'requested access to the resource is denied', ext: 250113 },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported', ext: 250105 },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests', ext: 250105 },
  // Berth's own, for the management APIs and edge cases the spec leaves open
  RANGE_INVALID: { status: 416, message: 'requested range not satisfiable', ext: 250105 },
  PARAMETER_INVALID: { status: 400, message: 'invalid parameter', ext: 250105 },
  NOT_FOUND: { status: 404, message: 'resource not found', ext: 250108 },
  CONFLICT: { status: 409, message: 'resource already exists or is in use', ext: 250105 },
  INTERNAL: { status: 500, message: 'internal server error', ext: 250001 },
  UNAVAILABLE: { status: 503, message: 'service unavailable', ext: 250002 },
  INSUFFICIENT_STORAGE: { status: 507, message: "the registry's storage is full", ext: 250001 },
} as const satisfies Record<string, { status: number; message: string; ext: number }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export interface RegistryErrorOptions {
  /** Overrides the table's status where the spec asks for another (413 for a giant manifest). */
  status?: number;
  /** Extra response headers (for example `Range` on a 416, `Retry-After` on a 429). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, detail?: unknown, options: RegistryErrorOptions = {}) {
    super(message ?? ERROR_TABLE[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.status = options.status ?? ERROR_TABLE[code].status;
    this.detail = detail;
    this.headers = options.headers ?? {};
  }

  /** The bk-repo style numeric code used in the management envelope. */
  get extCode(): number {
    return ERROR_TABLE[this.code].ext;
  }
}

export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError;
}

/** Error codes of a disk, a quota or an embedded database that has no room left. */
const STORAGE_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/**
 * A failure that is not a RegistryError as the answer to send: INSUFFICIENT_STORAGE (507) when the
 * storage had no room (the client learns what is wrong, and that retrying at once will not
 * help), else INTERNAL.
 */
export function unexpectedError(err: unknown): RegistryError {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && STORAGE_FULL.has(code)) return new RegistryError('INSUFFICIENT_STORAGE', undefined, undefined, { cause: err });
  return new RegistryError('INTERNAL', undefined, undefined, { cause: err });
}
