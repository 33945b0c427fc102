import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export const ConfigSchema = Type.Object(
  {
    listen: Type.String({ description: 'host:port to listen on', default: '127.0.0.1:5000' }),
    dataDir: Type.String({ description: 'where the database, blobs and keys live', default: './data' }),
    adminPassword: Type.Optional(Type.String({ minLength: 1, description: 'password of the first admin (first start only)' })),
    baseUrl: Type.Optional(Type.String({ description: 'externally visible URL, for Location and realm headers' })),
    autoCreate: Type.Boolean({ description: 'admins create projects and repos by pushing into them', default: true }),
    tokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 7 * 24 * 3600, description: 'lifetime of /v2/auth bearer tokens, long enough to outlast a long push', default: 3600 }),
    loginFailureLimit: Type.Integer({ minimum: 1, maximum: 10_000, description: 'failed logins per user (x5 per address) within 15 minutes before 429', default: 10 }),
    databaseUrl: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL metadata database (postgres://user:pass@host:port/db); SQLite in the data dir when unset' })),
    databasePoolSize: Type.Integer({ minimum: 1, maximum: 1000, description: 'PostgreSQL connections per node', default: 10 }),
    storage: Type.Union([Type.Literal('fs'), Type.Literal('s3')], { description: 'where blobs live: fs (the data dir) or s3 (an S3-compatible bucket)', default: 'fs' }),
    s3Endpoint: Type.Optional(Type.String({ pattern: '^https?://', description: 'S3-compatible endpoint URL; AWS when unset' })),
    s3Bucket: Type.Optional(Type.String({ minLength: 3, description: 'bucket for blobs and staged uploads (storage s3)' })),
    s3Region: Type.String({ minLength: 1, description: 'S3 region', default: 'us-east-1' }),
    s3AccessKeyId: Type.Optional(Type.String({ minLength: 1, description: 'S3 access key; the SDK default chain when unset' })),
    s3SecretAccessKey: Type.Optional(Type.String({ minLength: 1, description: 'S3 secret key' })),
    s3ForcePathStyle: Type.Optional(Type.Boolean({ description: 'path-style bucket URLs; default true when s3Endpoint is set' })),
    s3Prefix: Type.Optional(Type.String({ description: 'key prefix inside the bucket' })),
    s3RedirectSeconds: Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, description: 'answer blob GETs with a 307 to a presigned URL valid this long; 0 streams through the node', default: 0 }),
    s3ChunkMiB: Type.Integer({ minimum: 5, maximum: 5 * 1024, description: 'staged upload chunk (= multipart part) size in MiB; bounds memory per upload and the blob size (10000 parts)', default: 16 }),
    gcIntervalSeconds: Type.Integer({ minimum: 0, description: 'seconds between background garbage collections; 0 disables them (and the start-up sweep)', default: 3600 }),
    gcGraceSeconds: Type.Integer({ minimum: 0, description: 'age before an unreferenced blob or link is collected: protects uploads not yet referenced by a manifest', default: 3600 }),
    uploadTtlSeconds: Type.Integer({ minimum: 0, description: 'idle time after which an upload session and its bytes are removed', default: 24 * 3600 }),
    headersTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600, description: 'a client must send its request headers within this time (slow-loris guard)', default: 30 }),
    idleTimeoutSeconds: Type.Integer({ minimum: 1, description: 'a connection that sends and receives nothing for this long is closed, also mid-body (a stalled upload is cut and its lock released)', default: 300 }),
    gcUntagged: Type.Boolean({ description: 'GC also removes untagged manifests that no index lists and no live subject holds', default: false }),
    logLevel: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { description: 'fatal, error, warn, info, debug, trace or silent', default: 'info' }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type ConfigInput = Partial<Record<keyof Config, string | boolean | undefined>>;

/** Environment variable for each setting. */
export const ENV_NAMES: Record<keyof Config, string> = {
  listen: 'BERTH_LISTEN',
  dataDir: 'BERTH_DATA_DIR',
  adminPassword: 'BERTH_ADMIN_PASSWORD',
  baseUrl: 'BERTH_BASE_URL',
  autoCreate: 'BERTH_AUTO_CREATE',
  tokenTtlSeconds: 'BERTH_TOKEN_TTL',
  loginFailureLimit: 'BERTH_LOGIN_FAILURE_LIMIT',
  logLevel: 'BERTH_LOG_LEVEL',
  databaseUrl: 'BERTH_DATABASE_URL',
  databasePoolSize: 'BERTH_DATABASE_POOL_SIZE',
  storage: 'BERTH_STORAGE',
  s3Endpoint: 'BERTH_S3_ENDPOINT',
  s3Bucket: 'BERTH_S3_BUCKET',
  s3Region: 'BERTH_S3_REGION',
  s3AccessKeyId: 'BERTH_S3_ACCESS_KEY_ID',
  s3SecretAccessKey: 'BERTH_S3_SECRET_ACCESS_KEY',
  s3ForcePathStyle: 'BERTH_S3_FORCE_PATH_STYLE',
  s3Prefix: 'BERTH_S3_PREFIX',
  s3RedirectSeconds: 'BERTH_S3_REDIRECT_SECONDS',
  s3ChunkMiB: 'BERTH_S3_CHUNK_MIB',
  gcIntervalSeconds: 'BERTH_GC_INTERVAL',
  gcGraceSeconds: 'BERTH_GC_GRACE',
  uploadTtlSeconds: 'BERTH_UPLOAD_TTL',
  gcUntagged: 'BERTH_GC_UNTAGGED',
  headersTimeoutSeconds: 'BERTH_HEADERS_TIMEOUT',
  idleTimeoutSeconds: 'BERTH_IDLE_TIMEOUT',
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function fromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: ConfigInput = {};
  for (const [key, envName] of Object.entries(ENV_NAMES) as [keyof Config, string][]) {
    const value = env[envName];
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
}

function fromFile(path: string): ConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as ConfigInput;
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function coerceBoolean(value: unknown): unknown {
  if (value === 'true' || value === '1' || value === 'yes') return true;
  if (value === 'false' || value === '0' || value === 'no') return false;
  return value;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `90`, `90s`, `30m`, `1h`, `2d` -> seconds; anything else is left for the schema to reject. */
function durationSeconds(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const m = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(value);
  return m ? Number(m[1]) * DURATION_UNITS[m[2] || 's']! : value;
}

/** Parses `host:port`, `:port`, `port` or `[v6]:port`; the host defaults to 127.0.0.1. */
export function parseListen(listen: string): { host: string; port: number } {
  const text = listen.trim();
  const m = /^(?:\[([^\]]+)\]:|([^:[\]]*):)?(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) throw new ConfigError(`listen address "${listen}" is not host:port`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/**
 * Settings from, in rising precedence: defaults, the JSON config file (`--config` or
 * `BERTH_CONFIG`), environment variables, command-line flags. Throws ConfigError with one clear line.
 */
export function loadConfig(options: { env?: NodeJS.ProcessEnv; flags?: ConfigInput; file?: string } = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.BERTH_CONFIG;
  const merged: Record<string, unknown> = {
    ...(file ? fromFile(file) : {}),
    ...fromEnv(env),
    ...Object.fromEntries(Object.entries(options.flags ?? {}).filter(([, v]) => v !== undefined)),
  };
  for (const key of ['gcIntervalSeconds', 'gcGraceSeconds', 'uploadTtlSeconds', 'headersTimeoutSeconds', 'idleTimeoutSeconds']) merged[key] = durationSeconds(merged[key]);
  // Strings from the environment and flags become the numbers and booleans the schema names.
  for (const [key, schema] of Object.entries(ConfigSchema.properties) as [string, { type?: string }][]) {
    const value = merged[key];
    if (typeof value !== 'string') continue;
    if (schema.type === 'boolean') merged[key] = coerceBoolean(value);
    else if ((schema.type === 'integer' || schema.type === 'number') && /^\d+$/.test(value)) merged[key] = Number(value);
  }
  const withDefaults = Value.Default(ConfigSchema, merged) as Record<string, unknown>;
  if (!Value.Check(ConfigSchema, withDefaults)) {
    const first = [...Value.Errors(ConfigSchema, withDefaults)][0];
    if (!first) throw new ConfigError('invalid configuration');
    // Name the setting as the operator wrote it (config key and environment variable) and its value.
    const key = first.path.split('/')[1] ?? '';
    const env = ENV_NAMES[key as keyof Config];
    const value = first.value === undefined ? '' : ` = ${JSON.stringify(first.value)?.slice(0, 100)}`;
    throw new ConfigError(`invalid configuration: ${key || '/'}${env ? ` (${env})` : ''}${value}: ${first.message}`);
  }
  const config = withDefaults as Config;
  if (config.storage === 's3' && !config.s3Bucket) throw new ConfigError('storage "s3" needs a bucket: set BERTH_S3_BUCKET (or s3Bucket in the config file)');
  if ((config.s3AccessKeyId === undefined) !== (config.s3SecretAccessKey === undefined)) {
    throw new ConfigError('set both BERTH_S3_ACCESS_KEY_ID and BERTH_S3_SECRET_ACCESS_KEY, or neither');
  }
  parseListen(config.listen);
  if (config.baseUrl !== undefined) {
    try {
      const url = new URL(config.baseUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    } catch {
      throw new ConfigError(`base URL "${config.baseUrl}" is not an http(s) URL`);
    }
    config.baseUrl = config.baseUrl.replace(/\/+$/, '');
  }
  config.dataDir = resolve(config.dataDir);
  return config;
}
