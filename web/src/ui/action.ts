import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';

/** The message to show for a failed action. */
export function messageOf(err: unknown): string {
  return err instanceof ApiError || err instanceof Error ? err.message : String(err);
}

/**
 * A form's or button's asynchronous action: `busy` while it runs (to disable the controls),
 * `error` with what went wrong when it failed (cleared when it runs again).
 */
export function useAction(describe: (err: unknown) => string = messageOf): { busy: boolean; error: string | undefined; run: (action: () => Promise<unknown>) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  async function run(action: () => Promise<unknown>): Promise<void> {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run };
}
