import { useState } from 'preact/hooks';
import { get, type Member, type Permission, type Project, type Repo, send } from '../api.ts';
import { useApp } from '../context.ts';
import { absolute, count, relative } from '../format.ts';
import { href, navigate } from '../router.ts';
import { Crumbs } from '../ui/crumbs.tsx';
import { Confirm, Modal } from '../ui/dialog.tsx';
import { Link } from '../ui/link.tsx';
import { Empty, Loaded, useLoad } from '../ui/state.tsx';
import { useAction } from '../ui/action.ts';

const enc = encodeURIComponent;

/** A project: its repos (create, make public) and, for its admins, its members. */
export function ProjectPage({ project }: { project: string }) {
  const { notify } = useApp();
  const info = useLoad((signal) => get<Project>(`/repository/api/project/info/${enc(project)}`, undefined, signal), [project]);
  const perm = useLoad((signal) => get<Permission>(`/repository/api/permission/${enc(project)}`, undefined, signal), [project]);
  const repos = useLoad((signal) => get<Repo[]>(`/repository/api/repo/list/${enc(project)}`, undefined, signal), [project]);
  const manage = perm.data?.manage === true;
  const [creating, setCreating] = useState(false);
  const [toggling, setToggling] = useState<Repo>();

  return (
    <main id="main">
      <Crumbs items={[{ label: 'Projects', href: href.projects() }, { label: project }]} />
      <div class="page-head">
        <div>
          <h1>{info.data?.displayName || project}</h1>
          {info.data?.description && <p class="muted">{info.data.description}</p>}
        </div>
        {manage && <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>New repo</button>}
      </div>
      <h2 class="section">Repositories</h2>
      <Loaded load={repos} what="repositories">
        {(list) =>
          list.length === 0 ? (
            <Empty><p>This project has no repositories yet.</p>{manage && <p class="muted">Create one, or push to HOST/{project}/REPO/IMAGE:TAG.</p>}</Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Repositories of {project}</caption>
                <thead>
                  <tr><th scope="col">Name</th><th scope="col">Visibility</th><th scope="col" class="num">Images</th><th scope="col" class="hide-sm">Description</th><th scope="col" class="hide-sm">Created</th>{manage && <th scope="col"><span class="sr-only">Actions</span></th>}</tr>
                </thead>
                <tbody>
                  {list.map((r) => (
                    <tr key={r.name}>
                      <td><Link href={href.images(project, r.name)} class="strong">{r.name}</Link></td>
                      <td>{r.public ? <span class="badge badge-public">public</span> : <span class="badge">private</span>}</td>
                      <td class="num">{count(r.imageCount)}</td>
                      <td class="hide-sm">{r.description || <span class="muted">-</span>}</td>
                      <td class="hide-sm"><span title={absolute(r.createdDate)}>{relative(r.createdDate)}</span> <span class="muted">by {r.createdBy || '-'}</span></td>
                      {manage && (
                        <td class="actions">
                          <button type="button" class="btn btn-small" onClick={() => setToggling(r)}>{r.public ? 'Make private' : 'Make public'}</button>
                        </td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
      {manage && <Members project={project} />}
      {creating && (
        <CreateRepo
          project={project}
          onClose={(name) => {
            setCreating(false);
            if (name) {
              notify(`Repository ${name} created`);
              navigate(href.images(project, name));
            }
          }}
        />
      )}
      {toggling && (
        <Confirm
          title={toggling.public ? `Make ${toggling.name} private?` : `Make ${toggling.name} public?`}
          confirmLabel={toggling.public ? 'Make private' : 'Make public'}
          onConfirm={() => send('PUT', `/repository/api/repo/update/${enc(project)}/${enc(toggling.name)}`, { public: !toggling.public })}
          onClose={(done) => {
            if (done) {
              notify(`${toggling.name} is now ${toggling.public ? 'private' : 'public'}`);
              repos.reload();
            }
            setToggling(undefined);
          }}
        >
          <p>{toggling.public ? 'Only project members will be able to pull its images.' : 'Anyone, without signing in, will be able to pull its images. Nothing else becomes public.'}</p>
        </Confirm>
      )}
    </main>
  );
}

function CreateRepo({ project, onClose }: { project: string; onClose: (created?: string) => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [isPublic, setPublic] = useState(false);
  const { busy, error, run } = useAction();
  function submit(e: Event) {
    e.preventDefault();
    void run(async () => {
      const r = await send<Repo>('POST', '/repository/api/repo/create', { projectId: project, name, type: 'DOCKER', public: isPublic, description });
      onClose(r.name);
    });
  }
  return (
    <Modal title={`New repository in ${project}`} onClose={() => onClose()}>
      <form onSubmit={submit}>
        <label class="field">
          <span>Name</span>
          <input required pattern="[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*" maxLength={32} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <small class="muted">Lowercase letters, digits and . _ -; at most 32 characters.</small>
        </label>
        <label class="field"><span>Description (optional)</span><input value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
        <label class="check"><input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.currentTarget.checked)} /> Public: anyone may pull, without signing in</label>
        {error && <p class="error-inline" role="alert">{error}</p>}
        <div class="modal-actions">
          <button type="button" class="btn" onClick={() => onClose()}>Cancel</button>
          <button type="submit" class="btn btn-primary" disabled={busy}>{busy ? 'Creating…' : 'Create repository'}</button>
        </div>
      </form>
    </Modal>
  );
}

const ROLES = ['guest', 'developer', 'admin'] as const;
const ROLE_HELP: Record<string, string> = { guest: 'pull', developer: 'pull, push, delete tags', admin: 'everything, members and repos' };

function Members({ project }: { project: string }) {
  const { notify, session } = useApp();
  const members = useLoad((signal) => get<Member[]>(`/repository/api/project/${enc(project)}/members`, undefined, signal), [project]);
  const [userId, setUserId] = useState('');
  const [role, setRole] = useState<string>('developer');
  const [error, setError] = useState<string>();
  const [removing, setRemoving] = useState<string>();

  async function setMember(user: string, newRole: string) {
    setError(undefined);
    try {
      await send('PUT', `/repository/api/project/${enc(project)}/members`, { userId: user, role: newRole });
      notify(`${user} is now ${newRole} of ${project}`);
      members.reload();
      return true;
    } catch (err) {
      setError((err as Error).message);
      return false;
    }
  }

  return (
    <section aria-labelledby="members-h">
      <h2 id="members-h" class="section">Members</h2>
      <form
        class="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await setMember(userId.trim(), role)) setUserId('');
        }}
      >
        <label class="field"><span>User</span><input required value={userId} onInput={(e) => setUserId(e.currentTarget.value)} placeholder="user name" /></label>
        <label class="field">
          <span>Role</span>
          <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            {ROLES.map((r) => <option key={r} value={r}>{r} ({ROLE_HELP[r]})</option>)}
          </select>
        </label>
        <button type="submit" class="btn btn-primary">Add or change</button>
      </form>
      {error && <p class="error-inline" role="alert">{error}</p>}
      <Loaded load={members} what="members">
        {(list) =>
          list.length === 0 ? (
            <Empty><p>No members yet. System admins can always manage this project.</p></Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Members of {project}</caption>
                <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col" class="hide-sm">Since</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
                <tbody>
                  {list.map((m) => (
                    <tr key={m.userId}>
                      <td class="strong">{m.userId}</td>
                      <td>
                        <select aria-label={`Role of ${m.userId}`} value={m.role} onChange={(e) => void setMember(m.userId, e.currentTarget.value)}>
                          {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                        </select>
                      </td>
                      <td class="hide-sm"><span title={absolute(m.createdDate)}>{relative(m.createdDate)}</span></td>
                      <td class="actions">
                        <button type="button" class="btn btn-small btn-danger-outline" onClick={() => setRemoving(m.userId)} disabled={m.userId === session.user.userId && !session.user.admin} title={m.userId === session.user.userId && !session.user.admin ? 'You cannot remove yourself' : undefined}>Remove</button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
      {removing && (
        <Confirm
          title={`Remove ${removing} from ${project}?`}
          confirmLabel="Remove member"
          danger
          onConfirm={() => send('DELETE', `/repository/api/project/${enc(project)}/members/${enc(removing)}`)}
          onClose={(done) => {
            if (done) {
              notify(`${removing} removed from ${project}`);
              members.reload();
            }
            setRemoving(undefined);
          }}
        >
          <p>{removing} loses access to the project's private repositories.</p>
        </Confirm>
      )}
    </section>
  );
}
