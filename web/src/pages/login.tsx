import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { type Session, signIn } from '../session.ts';
import { useAction } from '../ui/action.ts';

/** Sign in with a password or a personal access token. */
export function LoginForm({ onSignedIn, expired, presetUser }: { onSignedIn: (s: Session) => void; expired?: boolean; presetUser?: string }) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [user, setUser] = useState(presetUser ?? '');
  const [secret, setSecret] = useState('');
  const { busy, error, run } = useAction((err) => {
    const api = err instanceof ApiError ? err : undefined;
    return api?.status === 401 ? `Sign-in failed: ${api.message}. Check the ${mode === 'password' ? 'user name and password' : 'token'}.` : (err as Error).message;
  });

  function submit(e: Event) {
    e.preventDefault();
    void run(async () => onSignedIn(await signIn(user.trim(), secret, mode)));
  }

  return (
    <form class="login-form" onSubmit={submit} aria-describedby={error ? 'login-error' : undefined}>
      {expired && <p class="notice" role="status">Your session has ended. Sign in again to continue where you were.</p>}
      <fieldset class="segmented">
        <legend class="sr-only">Sign in with</legend>
        <label class={mode === 'password' ? 'on' : ''}>
          <input type="radio" name="mode" value="password" checked={mode === 'password'} onChange={() => setMode('password')} /> Password
        </label>
        <label class={mode === 'token' ? 'on' : ''}>
          <input type="radio" name="mode" value="token" checked={mode === 'token'} onChange={() => setMode('token')} /> Access token
        </label>
      </fieldset>
      {mode === 'password' && (
        <label class="field">
          <span>User name</span>
          <input name="username" autoComplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} autoFocus={!presetUser} />
        </label>
      )}
      <label class="field">
        <span>{mode === 'password' ? 'Password' : 'Personal access token'}</span>
        <input
          name={mode === 'password' ? 'password' : 'token'}
          type="password"
          autoComplete={mode === 'password' ? 'current-password' : 'off'}
          required
          value={secret}
          onInput={(e) => setSecret(e.currentTarget.value)}
          autoFocus={mode === 'token' || !!presetUser}
        />
      </label>
      {error && <p id="login-error" class="error-inline" role="alert">{error}</p>}
      <button type="submit" class="btn btn-primary btn-block" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      <p class="muted small">Your credentials stay in this tab's memory only; reloading the page signs you out.</p>
    </form>
  );
}

export function LoginPage({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  return (
    <main id="main" class="login-page">
      <div class="login-card">
        <div class="brand brand-large"><img src="/favicon.svg" alt="" width="36" height="36" /> Berth</div>
        <h1>Sign in</h1>
        <LoginForm onSignedIn={onSignedIn} />
      </div>
    </main>
  );
}
