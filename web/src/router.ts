import { useEffect, useState } from 'preact/hooks';

/**
 * A tiny history router. UI routes (served with index.html by Berth's web plugin):
 *   /                                   projects
 *   /login
 *   /tokens                             my access tokens
 *   /p/{project}                        repos and members
 *   /p/{project}/{repo}                 images
 *   /p/{project}/{repo}/{image...}      tags of an image (the name may contain /)
 *   /p/{project}/{repo}/{image...}:{tag} detail of a tag (':' never occurs in image names)
 */
export type Route =
  | { page: 'projects' }
  | { page: 'login' }
  | { page: 'tokens' }
  | { page: 'project'; project: string }
  | { page: 'images'; project: string; repo: string }
  | { page: 'tags'; project: string; repo: string; image: string }
  | { page: 'tag'; project: string; repo: string; image: string; tag: string }
  | { page: 'notfound' };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts.length === 0) return { page: 'projects' };
  if (parts[0] === 'login' && parts.length === 1) return { page: 'login' };
  if (parts[0] === 'tokens' && parts.length === 1) return { page: 'tokens' };
  if (parts[0] !== 'p' || parts.length < 2) return { page: 'notfound' };
  const [, project, repo, ...rest] = parts as [string, string, string | undefined, ...string[]];
  if (repo === undefined) return { page: 'project', project };
  if (rest.length === 0) return { page: 'images', project, repo };
  const last = rest[rest.length - 1]!;
  const colon = last.lastIndexOf(':');
  if (colon > 0 && colon < last.length - 1) {
    const image = [...rest.slice(0, -1), last.slice(0, colon)].join('/');
    return { page: 'tag', project, repo, image, tag: last.slice(colon + 1) };
  }
  return { page: 'tags', project, repo, image: rest.join('/') };
}

const enc = encodeURIComponent;
const encImage = (image: string) => image.split('/').map(enc).join('/');

export const href = {
  projects: () => '/',
  tokens: () => '/tokens',
  project: (p: string) => `/p/${enc(p)}`,
  images: (p: string, r: string) => `/p/${enc(p)}/${enc(r)}`,
  tags: (p: string, r: string, image: string) => `/p/${enc(p)}/${enc(r)}/${encImage(image)}`,
  tag: (p: string, r: string, image: string, tag: string) => `/p/${enc(p)}/${enc(r)}/${encImage(image)}:${enc(tag)}`,
};

const listeners = new Set<() => void>();

export function navigate(to: string, replace = false): void {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  listeners.forEach((l) => l());
  window.scrollTo(0, 0);
}

/** The current location; re-renders on navigation and back/forward. */
export function useLocation(): { pathname: string; search: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const update = () => setTick((t) => t + 1);
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return { pathname: location.pathname, search: new URLSearchParams(location.search) };
}

/** Updates query parameters of the current URL without a new history entry. */
export function setQuery(values: Record<string, string | number | undefined>): void {
  const params = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || v === '' || v === 1) params.delete(k);
    else params.set(k, String(v));
  }
  const qs = params.toString();
  navigate(location.pathname + (qs ? `?${qs}` : ''), true);
}
