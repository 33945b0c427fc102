import { useState } from 'preact/hooks';
import { get, getPage, imagePath, type Permission, send, type TagItem } from '../api.ts';
import { useApp } from '../context.ts';
import { absolute, bytes, count, nextStage, relative, stageLabel } from '../format.ts';
import { href, setQuery, useLocation } from '../router.ts';
import { Crumbs } from '../ui/crumbs.tsx';
import { Confirm } from '../ui/dialog.tsx';
import { Link } from '../ui/link.tsx';
import { Pager } from '../ui/pager.tsx';
import { StageBadge } from '../ui/stage.tsx';
import { Empty, Loaded, useLoad } from '../ui/state.tsx';
import { PAGE_SIZE } from './images.tsx';

const enc = encodeURIComponent;

export interface TagAction {
  kind: 'promote' | 'delete';
  tag: string;
  stage: string;
}

/** The promote / delete-tag confirmations, shared by the tag list and the tag detail. */
export function TagActionDialog({ project, repo, image, action, onDone }: { project: string; repo: string; image: string; action: TagAction; onDone: (done: boolean) => void }) {
  const { notify } = useApp();
  const path = `${enc(project)}/${enc(repo)}/${imagePath(image)}`;
  if (action.kind === 'promote') {
    const to = nextStage(action.stage)!;
    return (
      <Confirm
        title={`Promote ${image}:${action.tag} to ${stageLabel(to)}?`}
        confirmLabel={`Promote to ${stageLabel(to)}`}
        onConfirm={() => send('POST', `/docker/api/stage/${path}`, undefined, { tag: action.tag, stage: to })}
        onClose={(done) => {
          if (done) notify(`${image}:${action.tag} is now ${stageLabel(to)}`);
          onDone(done);
        }}
      >
        <p>Stages only move forward (none → prerelease → release); this cannot be undone.</p>
      </Confirm>
    );
  }
  return (
    <Confirm
      title={`Delete tag ${image}:${action.tag}?`}
      confirmLabel="Delete tag"
      danger
      onConfirm={() => send('DELETE', `/docker/api/tag/${path}`, undefined, { tag: action.tag })}
      onClose={(done) => {
        if (done) notify(`Tag ${action.tag} deleted`);
        onDone(done);
      }}
    >
      <p>Pulls of <strong>{image}:{action.tag}</strong> will fail. Other tags of the image stay. This cannot be undone.</p>
    </Confirm>
  );
}

export function TagsPage({ project, repo, image }: { project: string; repo: string; image: string }) {
  const { search } = useLocation();
  const page = Math.max(1, Number(search.get('page') ?? '1') || 1);
  const perm = useLoad((signal) => get<Permission>(`/repository/api/permission/${enc(project)}/${enc(repo)}`, undefined, signal), [project, repo]);
  const tags = useLoad(
    (signal) => getPage<TagItem>(`/docker/api/tag/${enc(project)}/${enc(repo)}/${imagePath(image)}`, { pageNumber: page, pageSize: PAGE_SIZE }, signal),
    [project, repo, image, page],
  );
  const [action, setAction] = useState<TagAction>();
  const mayPromote = perm.data?.push === true;
  const mayDelete = perm.data?.deleteTag === true;

  return (
    <main id="main">
      <Crumbs items={[{ label: 'Projects', href: href.projects() }, { label: project, href: href.project(project) }, { label: repo, href: href.images(project, repo) }, { label: image }]} />
      <div class="page-head"><h1 class="break">{image}</h1></div>
      <Loaded load={tags} what="tags">
        {(result) =>
          result.items.length === 0 ? (
            <Empty><p>This image has no tags.</p></Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table>
                  <caption class="sr-only">Tags of {image}</caption>
                  <thead>
                    <tr><th scope="col">Tag</th><th scope="col">Stage</th><th scope="col" class="num">Size</th><th scope="col" class="num">Downloads</th><th scope="col" class="hide-sm">Last modified</th>{(mayPromote || mayDelete) && <th scope="col"><span class="sr-only">Actions</span></th>}</tr>
                  </thead>
                  <tbody>
                    {result.items.map((t) => {
                      const next = nextStage(t.status);
                      return (
                        <tr key={t.tag} data-tag={t.tag}>
                          <td><Link href={href.tag(project, repo, image, t.tag)} class="strong mono">{t.tag}</Link></td>
                          <td><StageBadge stage={t.status} /></td>
                          <td class="num" title={`${t.size} bytes`}>{bytes(t.size)}</td>
                          <td class="num">{count(t.downloadCount)}</td>
                          <td class="hide-sm"><span title={absolute(t.lastModifiedDate)}>{relative(t.lastModifiedDate)}</span> <span class="muted">by {t.lastModifiedBy || '-'}</span></td>
                          {(mayPromote || mayDelete) && (
                            <td class="actions">
                              {mayPromote && next && <button type="button" class="btn btn-small" onClick={() => setAction({ kind: 'promote', tag: t.tag, stage: t.status })} aria-label={`Promote ${t.tag} to ${stageLabel(next)}`}>Promote</button>}
                              {mayDelete && <button type="button" class="btn btn-small btn-danger-outline" onClick={() => setAction({ kind: 'delete', tag: t.tag, stage: t.status })} aria-label={`Delete tag ${t.tag}`}>Delete</button>}
                            </td>
                          )}
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
              <Pager page={page} pageSize={PAGE_SIZE} total={result.total} what="tags" onPage={(n) => setQuery({ page: n })} />
            </>
          )
        }
      </Loaded>
      {action && (
        <TagActionDialog
          project={project}
          repo={repo}
          image={image}
          action={action}
          onDone={(done) => {
            setAction(undefined);
            if (!done) return;
            tags.reload();
          }}
        />
      )}
    </main>
  );
}
