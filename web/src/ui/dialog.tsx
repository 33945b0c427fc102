import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { useAction } from './action.ts';

/**
 * A modal on the native <dialog>: focus moves into it and is trapped, Escape closes it, focus
 * returns to the opener afterwards.
 */
export function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    ref.current?.showModal();
    return () => opener?.focus?.();
  }, []);
  return (
    <dialog ref={ref} class="modal" aria-labelledby="modal-title" onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <h2 id="modal-title">{title}</h2>
      {children}
    </dialog>
  );
}

/** "Are you sure?" with the action run inside, its error shown in place. */
export function Confirm(props: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<unknown>;
  onClose: (done: boolean) => void;
}) {
  const { busy, error, run: runAction } = useAction();
  const run = () =>
    runAction(async () => {
      await props.onConfirm();
      props.onClose(true);
    });
  return (
    <Modal title={props.title} onClose={() => props.onClose(false)}>
      <div class="modal-body">{props.children}</div>
      {error && <p class="error-inline" role="alert">{error}</p>}
      <div class="modal-actions">
        <button type="button" class="btn" onClick={() => props.onClose(false)} disabled={busy}>Cancel</button>
        <button type="button" class={props.danger ? 'btn btn-danger' : 'btn btn-primary'} onClick={run} disabled={busy} autoFocus={!props.danger}>
          {busy ? 'Working…' : props.confirmLabel}
        </button>
      </div>
    </Modal>
  );
}
