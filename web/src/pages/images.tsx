import { useEffect, useState } from 'preact/hooks';
import { getPage, get, type ImageItem, imagePath, type Permission, send } from '../api.ts';
import { useApp } from '../context.ts';
import { absolute, count, relative } from '../format.ts';
import { href, setQuery, useLocation } from '../router.ts';
import { Crumbs } from '../ui/crumbs.tsx';
import { Confirm } from '../ui/dialog.tsx';
import { Link } from '../ui/link.tsx';
import { Pager } from '../ui/pager.tsx';
import { Empty, Loaded, useLoad } from '../ui/state.tsx';

const enc = encodeURIComponent;
export const PAGE_SIZE = 20;

/** Images of a repo: search by name (in the URL, so it survives back/forward), paging, delete. */
export function ImagesPage({ project, repo }: { project: string; repo: string }) {
  const { notify } = useApp();
  const { search } = useLocation();
  const q = search.get('q') ?? '';
  const page = Math.max(1, Number(search.get('page') ?? '1') || 1);
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  // Search as you type, a moment after the last key.
  useEffect(() => {
    if (text === q) return;
    const t = setTimeout(() => setQuery({ q: text, page: undefined }), 300);
    return () => clearTimeout(t);
  }, [text]);

  const perm = useLoad((signal) => get<Permission>(`/repository/api/permission/${enc(project)}/${enc(repo)}`, undefined, signal), [project, repo]);
  const images = useLoad(
    (signal) => getPage<ImageItem>(`/docker/api/repo/${enc(project)}/${enc(repo)}`, { pageNumber: page, pageSize: PAGE_SIZE, name: q }, signal),
    [project, repo, page, q],
  );
  const [deleting, setDeleting] = useState<string>();
  const mayDelete = perm.data?.delete === true;

  return (
    <main id="main">
      <Crumbs items={[{ label: 'Projects', href: href.projects() }, { label: project, href: href.project(project) }, { label: repo }]} />
      <div class="page-head">
        <h1>{project}/{repo}</h1>
      </div>
      <form class="search" role="search" onSubmit={(e) => { e.preventDefault(); setQuery({ q: text, page: undefined }); }}>
        <label class="sr-only" for="image-search">Search images by name</label>
        <input id="image-search" type="search" placeholder="Search images by name" value={text} onInput={(e) => setText(e.currentTarget.value)} />
      </form>
      <Loaded load={images} what="images">
        {(result) =>
          result.items.length === 0 ? (
            <Empty>
              {q ? <p>No image name contains “{q}”.</p> : <p>No images in this repository yet.</p>}
              {!q && <p class="muted">Push one: <code>docker push HOST/{project}/{repo}/IMAGE:TAG</code></p>}
            </Empty>
          ) : (
            <>
              <div class="table-wrap">
                <table>
                  <caption class="sr-only">Images of {project}/{repo}</caption>
                  <thead>
                    <tr><th scope="col">Image</th><th scope="col" class="num">Downloads</th><th scope="col" class="hide-sm">Created by</th><th scope="col">Created</th>{mayDelete && <th scope="col"><span class="sr-only">Actions</span></th>}</tr>
                  </thead>
                  <tbody>
                    {result.items.map((i) => (
                      <tr key={i.name} data-image={i.name}>
                        <td><Link href={href.tags(project, repo, i.name)} class="strong">{i.name}</Link></td>
                        <td class="num">{count(i.downloadCount)}</td>
                        <td class="hide-sm">{i.createdBy || '-'}</td>
                        <td><span title={absolute(i.createdDate)}>{relative(i.createdDate)}</span></td>
                        {mayDelete && (
                          <td class="actions"><button type="button" class="btn btn-small btn-danger-outline" onClick={() => setDeleting(i.name)} aria-label={`Delete image ${i.name}`}>Delete</button></td>
                        )}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager page={page} pageSize={PAGE_SIZE} total={result.total} what="images" onPage={(n) => setQuery({ page: n })} />
            </>
          )
        }
      </Loaded>
      {deleting && (
        <Confirm
          title={`Delete image ${deleting}?`}
          confirmLabel="Delete image"
          danger
          onConfirm={() => send('DELETE', `/docker/api/repo/${enc(project)}/${enc(repo)}/${imagePath(deleting)}`)}
          onClose={(done) => {
            if (done) {
              notify(`Image ${deleting} deleted`);
              images.reload();
            }
            setDeleting(undefined);
          }}
        >
          <p>This deletes <strong>{project}/{repo}/{deleting}</strong> with all its tags. Pulls of it will fail. This cannot be undone.</p>
        </Confirm>
      )}
    </main>
  );
}
