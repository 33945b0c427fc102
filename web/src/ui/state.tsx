import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.ts';

export type Load<T> =
  | { state: 'loading'; data?: T }
  | { state: 'ok'; data: T }
  | { state: 'error'; error: ApiError | Error; data?: T };

/**
 * Runs `fetcher` when `deps` change (aborting the previous run) and on reload(); keeps the last
 * data while reloading so lists do not flicker.
 */
export function useLoad<T>(fetcher: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Load<T> & { reload: () => void } {
  const [load, setLoad] = useState<Load<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const last = useRef<T | undefined>(undefined);
  useEffect(() => {
    const ctl = new AbortController();
    setLoad({ state: 'loading', ...(last.current !== undefined ? { data: last.current } : {}) });
    fetcher(ctl.signal).then(
      (data) => {
        if (ctl.signal.aborted) return;
        last.current = data;
        setLoad({ state: 'ok', data });
      },
      (error: Error) => {
        if (ctl.signal.aborted) return;
        setLoad({ state: 'error', error, ...(last.current !== undefined ? { data: last.current } : {}) });
      },
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...load, reload };
}

/** Shown while loading; appears only after a short delay (CSS) so fast answers do not flash. */
export function Loading({ what }: { what: string }) {
  return (
    <div class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function ErrorBox({ error, onRetry }: { error: Error; onRetry?: () => void }) {
  const api = error instanceof ApiError ? error : undefined;
  let title = 'Something went wrong';
  if (api?.status === 403) title = 'Access denied';
  else if (api?.status === 401) title = 'Sign-in required';
  else if (api?.status === 404) title = 'Not found';
  else if (api?.status === 0) title = 'Berth is unreachable';
  return (
    <div class="error" role="alert">
      <strong>{title}</strong>
      <p>{error.message}</p>
      {api?.status === 403 && <p class="muted">Ask a project admin for a role that allows this.</p>}
      {api?.traceId && <p class="muted small">Trace id: <code>{api.traceId}</code></p>}
      {onRetry && api?.status !== 403 && api?.status !== 404 && (
        <button type="button" class="btn" onClick={onRetry}>Try again</button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

/** Loading, error and content in one place. */
export function Loaded<T>({ load, what, children }: { load: Load<T> & { reload: () => void }; what: string; children: (data: T) => ComponentChildren }) {
  if (load.state === 'error' && load.data === undefined) return <ErrorBox error={load.error} onRetry={load.reload} />;
  if (load.data === undefined) return <Loading what={what} />;
  return (
    <>
      {load.state === 'error' && <ErrorBox error={load.error} onRetry={load.reload} />}
      <div aria-busy={load.state === 'loading'} class={load.state === 'loading' ? 'stale' : undefined}>
        {children(load.data)}
      </div>
    </>
  );
}
