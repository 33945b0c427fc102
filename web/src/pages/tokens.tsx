import { useState } from 'preact/hooks';
import { type AccessToken, get, send } from '../api.ts';
import { useApp } from '../context.ts';
import { absolute, relative } from '../format.ts';
import { href } from '../router.ts';
import { CopyField } from '../ui/copy.tsx';
import { Crumbs } from '../ui/crumbs.tsx';
import { Confirm } from '../ui/dialog.tsx';
import { Empty, Loaded, useLoad } from '../ui/state.tsx';
import { useAction } from '../ui/action.ts';

const enc = encodeURIComponent;

/** The signed-in user's personal access tokens: create (shown once), list, revoke. */
export function TokensPage() {
  const { session, notify } = useApp();
  const uid = session.user.userId;
  const tokens = useLoad((signal) => get<AccessToken[]>(`/auth/api/user/list/token/${enc(uid)}`, undefined, signal), [uid]);
  const [name, setName] = useState('');
  const [days, setDays] = useState('90');
  const { busy, error, run } = useAction();
  const [created, setCreated] = useState<{ name: string; id: string }>();
  const [revoking, setRevoking] = useState<string>();

  function create(e: Event) {
    e.preventDefault();
    void run(async () => {
      const expiredAt = days === 'never' ? undefined : new Date(Date.now() + Number(days) * 86400_000).toISOString();
      const t = await send<{ id: string; name: string }>('POST', `/auth/api/user/token/${enc(uid)}/${enc(name.trim())}`, undefined, expiredAt ? { expiredAt } : undefined);
      setCreated({ name: t.name, id: t.id });
      setName('');
      tokens.reload();
    });
  }

  return (
    <main id="main">
      <Crumbs items={[{ label: 'Projects', href: href.projects() }, { label: 'Access tokens' }]} />
      <div class="page-head"><h1>Access tokens</h1></div>
      <p class="muted">A personal access token works wherever your password does: <code>docker login</code>, the APIs, this UI. It acts with your roles.</p>
      {session.user.type !== 'user' ? <Empty><p>Service accounts have no personal access tokens.</p></Empty> : (
        <>
          <form class="inline-form" onSubmit={create}>
            <label class="field"><span>Name</span><input required maxLength={64} pattern="[A-Za-z0-9 ._\-]+" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="ci-pipeline" /></label>
            <label class="field">
              <span>Expires</span>
              <select value={days} onChange={(e) => setDays(e.currentTarget.value)}>
                <option value="7">in 7 days</option>
                <option value="30">in 30 days</option>
                <option value="90">in 90 days</option>
                <option value="365">in a year</option>
                <option value="never">never</option>
              </select>
            </label>
            <button type="submit" class="btn btn-primary" disabled={busy}>Create token</button>
          </form>
          {error && <p class="error-inline" role="alert">{error}</p>}
          {created && (
            <div class="secret-once" role="status">
              <p><strong>Token “{created.name}” created.</strong> Copy it now: it is shown only once.</p>
              <CopyField label="token" testId="new-token" value={created.id} />
              <button type="button" class="btn btn-small" onClick={() => setCreated(undefined)}>I have copied it</button>
            </div>
          )}
          <Loaded load={tokens} what="tokens">
            {(all) => {
              const list = all.filter((t) => !isSession(t.name));
              const sessions = all.filter((t) => isSession(t.name));
              return (
                <>
                  {list.length === 0 ? <Empty><p>You have no access tokens.</p></Empty> : <TokenTable list={list} caption="Your access tokens" current={session.sessionToken} onRevoke={setRevoking} />}
                  {sessions.length > 0 && (
                    <details class="sessions">
                      <summary>Browser sessions ({sessions.length})</summary>
                      <p class="muted small">Signing in here with a password creates a short-lived token for that tab; signing out revokes it, otherwise it expires by itself.</p>
                      <TokenTable list={sessions} caption="Browser sessions" current={session.sessionToken} onRevoke={setRevoking} />
                    </details>
                  )}
                </>
              );
            }}
          </Loaded>
        </>
      )}
      {revoking && (
        <Confirm
          title={`Revoke token ${revoking}?`}
          confirmLabel="Revoke token"
          danger
          onConfirm={() => send('DELETE', `/auth/api/user/token/${enc(uid)}/${enc(revoking)}`)}
          onClose={(done) => {
            if (done) {
              notify(`Token ${revoking} revoked`);
              tokens.reload();
            }
            setRevoking(undefined);
          }}
        >
          <p>Clients using it stop working within a minute.{revoking === session.sessionToken ? ' This is the token of this browser session: you will be signed out.' : ''}</p>
        </Confirm>
      )}
    </main>
  );
}

const isSession = (name: string) => name.startsWith('web-session-');

function TokenTable({ list, caption, current, onRevoke }: { list: AccessToken[]; caption: string; current: string | undefined; onRevoke: (name: string) => void }) {
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">{caption}</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {list.map((t) => (
            <tr key={t.name}>
              <td class="strong break">{t.name}{t.name === current && <span class="badge badge-pre">this session</span>}</td>
              <td><span title={absolute(t.createdAt)}>{relative(t.createdAt)}</span></td>
              <td>{t.expiredAt ? absolute(t.expiredAt) : 'never'}</td>
              <td class="actions">
                <button type="button" class="btn btn-small btn-danger-outline" onClick={() => onRevoke(t.name)} aria-label={`Revoke token ${t.name}`}>Revoke</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
