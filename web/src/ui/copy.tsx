import { useState } from 'preact/hooks';

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Not a secure context (plain http on a non-localhost address): fall back to a selection copy.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

/** A command or secret in a box with a Copy button. */
export function CopyField({ label, value, testId }: { label: string; value: string; testId?: string }) {
  const [copied, setCopied] = useState<'yes' | 'no' | undefined>();
  return (
    <div class="copy-field">
      <span class="copy-label">{label}</span>
      <div class="copy-row">
        <code class="copy-value" data-testid={testId} tabIndex={0}>{value}</code>
        <button
          type="button"
          class="btn btn-small"
          aria-label={`Copy ${label}`}
          onClick={async () => {
            setCopied((await copyText(value)) ? 'yes' : 'no');
            setTimeout(() => setCopied(undefined), 2000);
          }}
        >
          {copied === 'yes' ? 'Copied' : copied === 'no' ? 'Select and copy' : 'Copy'}
        </button>
      </div>
      <span class="sr-only" role="status">{copied === 'yes' ? `${label} copied` : ''}</span>
    </div>
  );
}
