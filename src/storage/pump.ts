import type { Readable, Writable } from 'node:stream';

/** The parts of Node's stream state that decide whether a stream will still emit 'close'. */
interface StreamState {
  autoDestroy: boolean;
  emitClose: boolean;
  /** Set once 'close' was emitted; `closed` is set earlier, before a pending 'error' event. */
  closeEmitted: boolean;
}

interface StreamInternals {
  _readableState?: StreamState;
  _writableState?: StreamState;
  destroyed: boolean;
}

/**
 * Pipes `source` into `destination`: `stream.pipeline(source, destination, { signal })` for
 * exactly two streams, without pipeline's per-call AbortController (aborted on every finish, which
 * builds a DOMException with a stack trace) and end-of-stream machinery: together about 3.5% of
 * the CPU of a small-image push, which runs two of them per blob write.
 *
 * - Resolves once `source` has ended and `destination` has finished (every byte written, `_final`
 *   done) and, when it closes itself after finishing (autoDestroy, a file writer closing its
 *   descriptor), once it has closed, so an error closing it rejects. A destination that is also
 *   readable (a Transform) settles at 'finish': its 'close' waits for whoever reads it.
 * - An error or a premature close of either stream destroys the other with that error (a server
 *   request without its socket, as pipeline does, so the response can still be sent) and rejects
 *   with the first error, a later real error replacing a premature close. It rejects only once
 *   both streams have closed: nothing of the destination's is still in flight then.
 * - `signal` aborting destroys both and rejects with an AbortError whose `cause` is its reason.
 * - Backpressure: the source is paused while the destination's buffer is full.
 * - Settles once; every listener it added to the streams and the signal is gone when it has.
 */
export function pump(source: Readable, destination: Writable, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let error: Error | undefined;
    let ended = source.readableEnded;
    let finished = destination.writableFinished;
    let settled = false;
    // A Duplex destination's 'close' waits for its reader; a plain Writable's only for its own _destroy.
    const awaitClose = (destination as unknown as StreamInternals)._readableState === undefined;

    const onData = (chunk: unknown): void => {
      if (error === undefined && !destination.write(chunk)) source.pause();
    };
    const onDrain = (): void => {
      if (error === undefined) source.resume();
    };
    const onEnd = (): void => {
      ended = true;
      destination.end();
    };
    const onFinish = (): void => {
      finished = true;
      check();
    };
    const onError = (err: Error): void => fail(err);
    const onSourceClose = (): void => (ended ? check() : fail(prematureClose()));
    const onDestinationClose = (): void => (finished ? check() : fail(prematureClose()));
    const onAbort = (): void => fail(abortError(signal!.reason));

    function fail(err: Error): void {
      if (settled) return;
      if (error === undefined) {
        error = err;
        destroy(source, err);
        destroy(destination, err);
      } else if (isPrematureClose(error) && !isPrematureClose(err)) {
        error = err;
      }
      check();
    }

    function check(): void {
      if (settled) return;
      if (error !== undefined) {
        if (closePending(source) || closePending(destination)) return;
      } else {
        if (!ended || !finished) return;
        if (awaitClose && closesItself(destination) && !stateOf(destination)!.closeEmitted) return;
      }
      settled = true;
      for (const [stream, event, listener] of listeners) stream.off(event, listener);
      signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) reject(error);
      else resolve();
    }

    const listeners: [Readable | Writable, string, Parameters<Readable['off']>[1]][] = [
      [source, 'data', onData],
      [source, 'end', onEnd],
      [source, 'error', onError],
      [source, 'close', onSourceClose],
      [destination, 'drain', onDrain],
      [destination, 'finish', onFinish],
      [destination, 'error', onError],
      [destination, 'close', onDestinationClose],
    ];
    for (const [stream, event, listener] of listeners) stream.on(event, listener);
    signal?.addEventListener('abort', onAbort);

    if (signal?.aborted) return fail(abortError(signal.reason));
    if (source.destroyed && !ended) return fail(source.errored ?? prematureClose());
    if (destination.destroyed) return fail(destination.errored ?? prematureClose());
    if (ended) destination.end();
    else source.resume();
  });
}

function stateOf(stream: Readable | Writable): StreamState | undefined {
  const internals = stream as unknown as StreamInternals;
  return internals._writableState ?? internals._readableState;
}

/** Whether the stream, once finished or ended, destroys itself and emits 'close'. */
function closesItself(stream: Readable | Writable): boolean {
  const state = stateOf(stream);
  return state !== undefined && state.autoDestroy && state.emitClose;
}

/** A destroyed stream whose 'close' event is still to come. */
function closePending(stream: Readable | Writable): boolean {
  const state = stateOf(stream);
  return stream.destroyed && state !== undefined && state.emitClose && !state.closeEmitted;
}

function destroy(stream: Readable | Writable, err: Error): void {
  if (stream.destroyed) return;
  if (!stateOf(stream)?.emitClose) {
    // No 'close' to wait for, so no 'error' event either: nobody would be listening for it.
    stream.destroy();
    return;
  }
  // A server request destroyed with its socket would take the response down with it.
  if (isServerRequest(stream)) (stream as unknown as { socket: unknown }).socket = null;
  stream.destroy(err);
}

/** node:http's IncomingMessage on the server side, recognised the way stream.pipeline does. */
function isServerRequest(stream: object): boolean {
  const s = stream as { _consuming?: unknown; _dumped?: unknown; req?: { upgradeOrConnect?: unknown } };
  return typeof s._consuming === 'boolean' && typeof s._dumped === 'boolean' && s.req?.upgradeOrConnect === undefined;
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

function isPrematureClose(err: Error): boolean {
  return (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
}

function abortError(reason: unknown): Error {
  return Object.assign(new Error('The operation was aborted', { cause: reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
