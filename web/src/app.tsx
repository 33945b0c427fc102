import { useEffect, useState } from 'preact/hooks';
import { onUnauthorized } from './api.ts';
import { Ctx } from './context.ts';
import { ImagesPage } from './pages/images.tsx';
import { LoginForm, LoginPage } from './pages/login.tsx';
import { ProjectPage } from './pages/project.tsx';
import { ProjectsPage } from './pages/projects.tsx';
import { TagPage } from './pages/tag.tsx';
import { TagsPage } from './pages/tags.tsx';
import { TokensPage } from './pages/tokens.tsx';
import { href, navigate, parseRoute, useLocation } from './router.ts';
import { type Session, signOut } from './session.ts';
import { Modal } from './ui/dialog.tsx';
import { Link } from './ui/link.tsx';
import { Empty } from './ui/state.tsx';

export function App() {
  const { pathname } = useLocation();
  const [session, setSession] = useState<Session>();
  const [expired, setExpired] = useState(false);
  /** Bumped after a re-login so the page loads again with the new credentials. */
  const [generation, setGeneration] = useState(0);
  const [status, setStatus] = useState('');

  useEffect(() => onUnauthorized(() => setExpired(true)), []);
  useEffect(() => {
    if (!status) return;
    const t = setTimeout(() => setStatus(''), 5000);
    return () => clearTimeout(t);
  }, [status]);

  const route = parseRoute(pathname);

  if (!session) {
    return (
      <LoginPage
        onSignedIn={(s) => {
          setSession(s);
          if (route.page === 'login') navigate(href.projects(), true);
        }}
      />
    );
  }
  if (route.page === 'login') {
    navigate(href.projects(), true);
    return null;
  }

  let page;
  switch (route.page) {
    case 'projects': page = <ProjectsPage />; break;
    case 'tokens': page = <TokensPage />; break;
    case 'project': page = <ProjectPage project={route.project} />; break;
    case 'images': page = <ImagesPage project={route.project} repo={route.repo} />; break;
    case 'tags': page = <TagsPage project={route.project} repo={route.repo} image={route.image} />; break;
    case 'tag': page = <TagPage project={route.project} repo={route.repo} image={route.image} tag={route.tag} />; break;
    default: page = <main id="main"><Empty><p>There is no page at this address.</p><p><Link href={href.projects()}>Go to the projects</Link></p></Empty></main>;
  }

  return (
    <Ctx.Provider value={{ session, notify: setStatus }}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="topbar">
        <Link href={href.projects()} class="brand"><img src="/favicon.svg" alt="" width="24" height="24" /> Berth</Link>
        <nav aria-label="Main" class="topnav">
          <Link href={href.projects()} aria-current={route.page !== 'tokens' ? 'page' : undefined}>Projects</Link>
          <Link href={href.tokens()} aria-current={route.page === 'tokens' ? 'page' : undefined}>Tokens</Link>
        </nav>
        <div class="user">
          <span class="user-name" data-testid="user">{session.user.userId}{session.user.admin && <span class="badge">admin</span>}</span>
          <button
            type="button"
            class="btn btn-small"
            onClick={async () => {
              await signOut(session);
              setSession(undefined);
              setExpired(false);
              navigate('/login');
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <div key={`${generation}:${pathname}`} class="content">{page}</div>
      <div class="toast" role="status" aria-live="polite">{status}</div>
      {expired && (
        <Modal title="Sign in again" onClose={() => { /* a session must be restored or ended */ }}>
          <LoginForm
            expired
            presetUser={session.user.type === 'user' ? session.user.userId : ''}
            onSignedIn={(s) => {
              setSession(s);
              setExpired(false);
              setGeneration((g) => g + 1);
            }}
          />
          <button type="button" class="btn btn-link" onClick={async () => { await signOut(undefined); setSession(undefined); setExpired(false); }}>Sign out instead</button>
        </Modal>
      )}
    </Ctx.Provider>
  );
}
