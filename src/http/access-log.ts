import pino, { type Logger } from 'pino';

/** Writes one request's access line: `{..., traceId, method, url, status, ms, msg: "request"}` at info. */
export type AccessLog = (traceId: string, method: string, url: string, status: number, ms: number) => void;

const { lsCacheSym, timeSym, chindingsSym, endSym, streamSym, mixinSym, formattersSym, hooksSym, messageKeySym, nestedKeySym, serializersSym, stringifiersSym, wildcardFirstSym, needsMetadataGsym } =
  pino.symbols;
/** Fields of the access line; a serializer or redaction for any of them leaves the line to pino. */
const FIELDS = ['traceId', 'method', 'url', 'status', 'ms', 'msg'];

/** Characters a JSON string cannot hold as they are (surrogates: a lone one must be escaped). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `s` as a JSON string: between quotes as it is when nothing in it needs escaping (trace ids,
 * methods and paths nearly always), else JSON.stringify's, which costs several times more.
 */
const quote = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);

/** A number as pino writes it: non-finite ones as null. */
const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);

/** The logger's internals the fast path reads, by pino's documented symbols. */
type Internals = Record<symbol, unknown> & { levels: Logger['levels']; levelVal: number };

/**
 * Whether pino, for `logger.info({traceId, method, url, status, ms}, 'request')`, would write
 * exactly the level prefix, the time, the bindings, the fields in that order, `msg` and the line's
 * end: no mixin, no log formatter, no stream hook or message prefix, no nested key, `msg` as the
 * message key, no serializer or redaction touching the fields, and a stream that does not ask for
 * each line's metadata (pino.multistream, transports).
 */
function writesPlainLines(logger: Internals): boolean {
  const formatters = logger[formattersSym] as { log?: unknown } | undefined;
  const hooks = logger[hooksSym] as { streamWrite?: unknown } | undefined;
  const serializers = (logger[serializersSym] ?? {}) as Record<string, unknown>;
  const stringifiers = (logger[stringifiersSym] ?? {}) as Record<string | symbol, unknown>;
  const stream = logger[streamSym] as ({ write?: unknown } & Record<symbol, unknown>) | undefined;
  return (
    typeof (logger[lsCacheSym] as Record<number, unknown> | undefined)?.[logger.levels.values.info!] === 'string' &&
    typeof logger[timeSym] === 'function' &&
    typeof logger[endSym] === 'string' &&
    typeof stream?.write === 'function' &&
    stream[needsMetadataGsym] !== true &&
    !logger[mixinSym] &&
    !formatters?.log &&
    !hooks?.streamWrite &&
    !(logger as unknown as { msgPrefix?: string }).msgPrefix &&
    !logger[nestedKeySym] &&
    logger[messageKeySym] === 'msg' &&
    !stringifiers[wildcardFirstSym] &&
    FIELDS.every((f) => serializers[f] === undefined && stringifiers[f] === undefined)
  );
}

/**
 * The access log of `logger`: the line pino writes for the call above, byte for byte, formatted
 * here with the logger's own level prefix, time function, bindings and line end. pino's generic
 * path walks the object's keys with property lookups that every other shape logged in the server
 * makes megamorphic: on small requests it took a tenth of all instructions (about 26,000 of
 * 250,000 for a GET of a manifest, measured with callgrind), this about 4,000 with the write. A logger
 * configured in a way the line would not match (see writesPlainLines) gets the call itself.
 */
export function accessLog(logger: Logger): AccessLog {
  const internals = logger as unknown as Internals;
  const info = logger.levels.values.info!;
  if (!writesPlainLines(internals)) {
    return (traceId, method, url, status, ms) => {
      if (internals.levelVal <= info) logger.info({ traceId, method, url, status, ms }, 'request');
    };
  }
  const prefix = (internals[lsCacheSym] as Record<number, string>)[info]!;
  const time = internals[timeSym] as (this: Logger) => string;
  const end = internals[endSym] as string;
  return (traceId, method, url, status, ms) => {
    if (internals.levelVal > info) return;
    // quote() writes a string as pino's own escaping does (they only differ on a lone
    // surrogate, which JSON.stringify escapes and pino writes raw).
    const line = `${prefix}${time.call(logger)}${internals[chindingsSym] as string},"traceId":${quote(traceId)},"method":${quote(method)},"url":${quote(url)},"status":${finite(status)},"ms":${finite(ms)},"msg":"request"${end}`;
    (internals[streamSym] as { write(line: string): unknown }).write(line);
  };
}
