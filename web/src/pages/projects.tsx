import { useState } from 'preact/hooks';
import { get, type Project, send } from '../api.ts';
import { useApp } from '../context.ts';
import { absolute, count, relative } from '../format.ts';
import { href, navigate } from '../router.ts';
import { Crumbs } from '../ui/crumbs.tsx';
import { Modal } from '../ui/dialog.tsx';
import { Link } from '../ui/link.tsx';
import { Empty, Loaded, useLoad } from '../ui/state.tsx';
import { useAction } from '../ui/action.ts';

export function ProjectsPage() {
  const { session, notify } = useApp();
  const load = useLoad((signal) => get<Project[]>('/repository/api/project/list', undefined, signal), []);
  const [creating, setCreating] = useState(false);
  return (
    <main id="main">
      <Crumbs items={[{ label: 'Projects' }]} />
      <div class="page-head">
        <h1>Projects</h1>
        {session.user.admin && <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>New project</button>}
      </div>
      <Loaded load={load} what="projects">
        {(projects) =>
          projects.length === 0 ? (
            <Empty>
              <p>No projects to show.</p>
              <p class="muted">{session.user.admin ? 'Create one, or push an image as HOST/project/repo/image:tag.' : 'Ask an admin to add you to a project.'}</p>
            </Empty>
          ) : (
            <ul class="cards">
              {projects.map((p) => (
                <li key={p.name} class="card">
                  <h2><Link href={href.project(p.name)}>{p.displayName && p.displayName !== p.name ? `${p.displayName}` : p.name}</Link></h2>
                  {p.displayName && p.displayName !== p.name && <p class="muted small mono">{p.name}</p>}
                  {p.description && <p>{p.description}</p>}
                  <p class="muted small">
                    {count(p.imageCount)} image{p.imageCount === 1 ? '' : 's'} · created by {p.createdBy || '-'} <span title={absolute(p.createdDate)}>{relative(p.createdDate)}</span>
                  </p>
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      {creating && (
        <CreateProject
          onClose={(name) => {
            setCreating(false);
            if (name) {
              notify(`Project ${name} created`);
              navigate(href.project(name));
            }
          }}
        />
      )}
    </main>
  );
}

function CreateProject({ onClose }: { onClose: (created?: string) => void }) {
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [description, setDescription] = useState('');
  const { busy, error, run } = useAction();
  function submit(e: Event) {
    e.preventDefault();
    void run(async () => {
      const p = await send<Project>('POST', '/repository/api/project/create', { name, displayName: displayName || name, description });
      onClose(p.name);
    });
  }
  return (
    <Modal title="New project" onClose={() => onClose()}>
      <form onSubmit={submit}>
        <label class="field">
          <span>Name</span>
          <input required pattern="[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*" maxLength={32} value={name} onInput={(e) => setName(e.currentTarget.value)} aria-describedby="pname-hint" />
          <small id="pname-hint" class="muted">Lowercase letters, digits and . _ -; at most 32 characters. Part of every image reference.</small>
        </label>
        <label class="field"><span>Display name (optional)</span><input value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} /></label>
        <label class="field"><span>Description (optional)</span><input value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
        {error && <p class="error-inline" role="alert">{error}</p>}
        <div class="modal-actions">
          <button type="button" class="btn" onClick={() => onClose()}>Cancel</button>
          <button type="submit" class="btn btn-primary" disabled={busy}>{busy ? 'Creating…' : 'Create project'}</button>
        </div>
      </form>
    </Modal>
  );
}
