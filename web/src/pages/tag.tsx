import { useState } from 'preact/hooks';
import { get, imagePath, type Permission, type TagDetail } from '../api.ts';
import { absolute, bytes, count, nextStage, relative, shortDigest, stageLabel } from '../format.ts';
import { href, navigate } from '../router.ts';
import { CopyField } from '../ui/copy.tsx';
import { Crumbs } from '../ui/crumbs.tsx';
import { StageBadge } from '../ui/stage.tsx';
import { ErrorBox, Loaded, Loading, useLoad } from '../ui/state.tsx';
import { type TagAction, TagActionDialog } from './tags.tsx';
import type { TagItem } from '../api.ts';
import { getPage } from '../api.ts';

const enc = encodeURIComponent;

/** Registry address for pull commands, from /docker/api/addr (cached for the tab). */
let addrCache: Promise<string> | undefined;
function registryAddr(): Promise<string> {
  addrCache ??= get<string>('/docker/api/addr').catch((err) => {
    addrCache = undefined;
    throw err;
  });
  return addrCache;
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** One tag: pull commands, digest, platform, layers, history, labels and the manifest. */
export function TagPage({ project, repo, image, tag }: { project: string; repo: string; image: string; tag: string }) {
  const path = `${enc(project)}/${enc(repo)}/${imagePath(image)}`;
  const detail = useLoad((signal) => get<TagDetail>(`/docker/api/tag/detail/${path}`, { tag }, signal), [path, tag]);
  const manifest = useLoad((signal) => get<string>(`/docker/api/manifest/${path}/${enc(tag)}`, undefined, signal), [path, tag]);
  const addr = useLoad(() => registryAddr(), []);
  const perm = useLoad((signal) => get<Permission>(`/repository/api/permission/${enc(project)}/${enc(repo)}`, undefined, signal), [project, repo]);
  // The stage lives in the tag list (tag detail's `basic` has no stage): find this tag there.
  const stage = useLoad(async (signal) => {
    for (let page = 1; page <= 50; page++) {
      const result = await getPage<TagItem>(`/docker/api/tag/${path}`, { pageNumber: page, pageSize: 1000 }, signal);
      const found = result.items.find((t) => t.tag === tag);
      if (found) return found.status;
      if (page * 1000 >= result.total) break;
    }
    return '';
  }, [path, tag]);
  const [action, setAction] = useState<TagAction>();

  const ref = `${project}/${repo}/${image}:${tag}`;
  const insecure = location.protocol === 'http:';
  const next = stage.data !== undefined ? nextStage(stage.data) : undefined;

  return (
    <main id="main">
      <Crumbs items={[{ label: 'Projects', href: href.projects() }, { label: project, href: href.project(project) }, { label: repo, href: href.images(project, repo) }, { label: image, href: href.tags(project, repo, image) }, { label: tag }]} />
      <div class="page-head">
        <div>
          <h1 class="break">{image}<span class="tag-sep">:</span>{tag}</h1>
          {stage.data !== undefined && <p>Stage: <StageBadge stage={stage.data} /></p>}
        </div>
        <div class="head-actions">
          {perm.data?.push && next && <button type="button" class="btn btn-primary" onClick={() => setAction({ kind: 'promote', tag, stage: stage.data ?? '' })}>Promote to {stageLabel(next)}</button>}
          {perm.data?.deleteTag && <button type="button" class="btn btn-danger-outline" onClick={() => setAction({ kind: 'delete', tag, stage: stage.data ?? '' })}>Delete tag</button>}
        </div>
      </div>

      <section class="panel" aria-labelledby="pull-h">
        <h2 id="pull-h">Pull</h2>
        {addr.state === 'error' && <ErrorBox error={addr.error} onRetry={addr.reload} />}
        {addr.data === undefined && addr.state === 'loading' && <Loading what="registry address" />}
        {addr.data !== undefined && (
          <div class="pull-grid">
            <CopyField label="docker" testId="docker-pull" value={`docker pull ${addr.data}/${ref}`} />
            <CopyField label="podman" testId="podman-pull" value={`podman pull ${insecure ? '--tls-verify=false ' : ''}${addr.data}/${ref}`} />
          </div>
        )}
      </section>

      <Loaded load={detail} what="tag detail">
        {(d) => {
          const digest = d.metadata['docker.manifest.digest'] ?? '';
          const arch = d.metadata.architecture ?? '';
          const layerTotal = d.layers.reduce((sum, l) => sum + l.size, 0);
          const labels = Object.entries(d.metadata).filter(([k]) => !['docker.manifest.digest', 'docker.manifest.type', 'architecture', 'created'].includes(k));
          return (
            <>
              <section class="panel" aria-labelledby="overview-h">
                <h2 id="overview-h">Overview</h2>
                <dl class="facts">
                  <div class="wide"><dt>Manifest digest</dt><dd class="mono break" data-testid="digest">{digest || '-'}</dd></div>
                  <div><dt>Image id</dt><dd class="mono break" title={`sha256:${d.basic.sha256}`}>{shortDigest(d.basic.sha256)}</dd></div>
                  <div><dt>OS / architecture</dt><dd data-testid="platform">{d.basic.os || '-'}{arch ? ` / ${arch}` : ''}</dd></div>
                  <div><dt>Size</dt><dd title={`${d.basic.size} bytes`}>{bytes(d.basic.size)}</dd></div>
                  <div><dt>Downloads</dt><dd>{count(d.basic.downloadCount)}</dd></div>
                  <div><dt>Last modified</dt><dd><span title={absolute(d.basic.lastModifiedDate)}>{relative(d.basic.lastModifiedDate)}</span> by {d.basic.lastModifiedBy || '-'}</dd></div>
                  <div><dt>Created</dt><dd>{d.metadata.created ? absolute(d.metadata.created) : '-'}</dd></div>
                  <div class="wide"><dt>Media type</dt><dd class="mono break small">{d.metadata['docker.manifest.type'] ?? '-'}</dd></div>
                </dl>
              </section>

              {d.platforms && d.platforms.length > 0 && (
                <section class="panel" aria-labelledby="platforms-h">
                  <h2 id="platforms-h">Platforms <span class="muted small">(multi-arch index; details below are for the first listed platform or linux/amd64)</span></h2>
                  <div class="table-wrap">
                    <table data-testid="platforms">
                      <thead><tr><th scope="col">OS / architecture</th><th scope="col">Digest</th></tr></thead>
                      <tbody>
                        {d.platforms.map((p) => (
                          <tr key={p.digest}>
                            <td>{p.os}/{p.architecture}{p.variant ? `/${p.variant}` : ''}</td>
                            <td class="mono break" title={p.digest}>{shortDigest(p.digest)}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                </section>
              )}

              <section class="panel" aria-labelledby="layers-h">
                <h2 id="layers-h">Layers <span class="muted small">{d.layers.length} · {bytes(layerTotal)}</span></h2>
                {d.layers.length === 0 ? <p class="muted">No layers.</p> : (
                  <div class="table-wrap">
                    <table data-testid="layers">
                      <thead><tr><th scope="col" class="num">#</th><th scope="col">Digest</th><th scope="col" class="num">Size</th></tr></thead>
                      <tbody>
                        {d.layers.map((l, i) => (
                          <tr key={`${l.id}-${i}`}>
                            <td class="num">{i + 1}</td>
                            <td class="mono break" title={l.id.replace('__', ':')}>{l.id.replace('__', ':')}</td>
                            <td class="num" title={`${l.size} bytes`}>{bytes(l.size)}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                )}
              </section>

              <section class="panel" aria-labelledby="history-h">
                <h2 id="history-h">History</h2>
                {d.history.length === 0 ? <p class="muted">The image config records no history.</p> : (
                  <ol class="history">
                    {d.history.map((h, i) => <li key={i}><code class="break">{h || '(empty)'}</code></li>)}
                  </ol>
                )}
              </section>

              <section class="panel" aria-labelledby="labels-h">
                <h2 id="labels-h">Labels</h2>
                {labels.length === 0 ? <p class="muted">No labels.</p> : (
                  <dl class="facts labels">
                    {labels.map(([k, v]) => <div key={k}><dt class="mono">{k}</dt><dd class="break">{v}</dd></div>)}
                  </dl>
                )}
              </section>
            </>
          );
        }}
      </Loaded>

      <section class="panel" aria-labelledby="manifest-h">
        <h2 id="manifest-h">Manifest</h2>
        <Loaded load={manifest} what="manifest">
          {(text) => <pre class="json" tabIndex={0} aria-label="Manifest JSON" data-testid="manifest">{prettyJson(text)}</pre>}
        </Loaded>
      </section>

      {action && (
        <TagActionDialog
          project={project}
          repo={repo}
          image={image}
          action={action}
          onDone={(done) => {
            setAction(undefined);
            if (!done) return;
            if (action.kind === 'delete') navigate(href.tags(project, repo, image));
            else {
              stage.reload();
              detail.reload();
            }
          }}
        />
      )}
    </main>
  );
}
