/**
 * The only way the UI talks to Berth: fetch on the public APIs, answers in the
 * `{code, message, data, traceId}` envelope. Credentials live in this module's memory only.
 */

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: number,
    readonly traceId: string | undefined,
  ) {
    super(message);
  }
}

export interface Page<T> {
  items: T[];
  total: number;
}

let authorization: string | undefined;
let unauthorizedListener: (() => void) | undefined;

/** Sets (or clears) the Authorization header value sent with every call. Memory only. */
export function setAuthorization(value: string | undefined): void {
  authorization = value;
}

/** Called when an authenticated call answers 401: the session has expired or was revoked. */
export function onUnauthorized(listener: () => void): void {
  unauthorizedListener = listener;
}

export function basic(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = '';
  bytes.forEach((b) => (bin += String.fromCharCode(b)));
  return `Basic ${btoa(bin)}`;
}

interface CallOptions {
  method?: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Use these credentials instead of the session's (sign-in). */
  auth?: string;
  signal?: AbortSignal;
}

async function call<T>(path: string, options: CallOptions = {}): Promise<{ data: T; response: Response }> {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const headers: Record<string, string> = { accept: 'application/json' };
  const auth = options.auth ?? authorization;
  if (auth) headers.authorization = auth;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      credentials: 'omit',
      cache: 'no-store',
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError('Berth could not be reached. Check your connection and try again.', 0, 0, undefined);
  }
  let body: { code?: number; message?: string | null; data?: T; traceId?: string } | undefined;
  try {
    body = (await response.json()) as typeof body;
  } catch {
    body = undefined;
  }
  if (!response.ok || !body || body.code !== 0) {
    const message = body?.message || `${response.status} ${response.statusText || 'error'}`;
    const error = new ApiError(message, response.status, body?.code ?? 0, body?.traceId ?? response.headers.get('x-trace-id') ?? undefined);
    if (response.status === 401 && options.auth === undefined && authorization !== undefined) unauthorizedListener?.();
    throw error;
  }
  return { data: body.data as T, response };
}

export async function get<T>(path: string, query?: CallOptions['query'], signal?: AbortSignal): Promise<T> {
  return (await call<T>(path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) })).data;
}

export async function getPage<T>(path: string, query: CallOptions['query'], signal?: AbortSignal): Promise<Page<T>> {
  const { data, response } = await call<T[]>(path, { query, ...(signal ? { signal } : {}) });
  const total = Number(response.headers.get('x-total-count') ?? data.length);
  return { items: data, total: Number.isFinite(total) ? total : data.length };
}

export async function send<T>(method: string, path: string, body?: unknown, query?: CallOptions['query'], auth?: string): Promise<T> {
  return (await call<T>(path, { method, body, ...(query ? { query } : {}), ...(auth ? { auth } : {}) })).data;
}

/** Path segments of an image name (it may contain `/`), each encoded. */
export function imagePath(image: string): string {
  return image.split('/').map(encodeURIComponent).join('/');
}

// ---- shapes of the answers the UI reads ----

export interface UserInfo {
  userId: string;
  admin: boolean;
  type: string;
}

export interface Project {
  name: string;
  displayName: string;
  description: string;
  createdBy: string;
  createdDate: string;
  imageCount: number;
}

export interface Repo {
  projectId: string;
  name: string;
  type: string;
  public: boolean;
  description: string;
  createdBy: string;
  createdDate: string;
  imageCount: number;
}

export interface Permission {
  userId: string;
  admin: boolean;
  manage: boolean;
  pull: boolean;
  push: boolean;
  delete: boolean;
  deleteTag: boolean;
}

export interface ImageItem {
  name: string;
  createdBy: string;
  downloadCount: number;
  createdDate: string;
}

export type Stage = '' | '@prerelease' | '@release';

export interface TagItem {
  tag: string;
  status: Stage;
  size: number;
  downloadCount: number;
  lastModifiedBy: string;
  lastModifiedDate: string;
}

export interface TagDetail {
  basic: { size: number; sha256: string; tag: string; os: string; lastModifiedBy: string; lastModifiedDate: string; downloadCount: number };
  history: string[];
  metadata: Record<string, string>;
  layers: { id: string; size: number }[];
  platforms?: { os: string; architecture: string; variant?: string; digest: string }[];
}

export interface Member {
  userId: string;
  role: string;
  createdDate?: string | null;
}

export interface AccessToken {
  name: string;
  createdAt: string | null;
  expiredAt: string | null;
  id?: string;
  [key: string]: unknown;
}
