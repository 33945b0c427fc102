import { basic, get, send, setAuthorization, type UserInfo } from './api.ts';

/**
 * The signed-in user. Credentials are kept in memory only (never localStorage, sessionStorage or
 * a readable cookie): a reload or a new tab signs in again. A password sign-in is exchanged for a
 * personal access token named `web-session-...` that expires after SESSION_HOURS and is revoked
 * at logout, so the password itself is not kept; a token sign-in uses the token as it is.
 */
export interface Session {
  user: UserInfo;
  /** The session token's name when the UI created one (revoked at logout). */
  sessionToken?: string;
}

export const SESSION_HOURS = 8;

function looksLikeToken(secret: string): boolean {
  return /^bpat_/.test(secret);
}

export async function signIn(userId: string, secret: string, mode: 'password' | 'token'): Promise<Session> {
  if (mode === 'token' || (userId === '' && looksLikeToken(secret))) {
    const auth = `Bearer ${secret}`;
    const user = await send<UserInfo>('GET', '/auth/api/user/info', undefined, undefined, auth);
    setAuthorization(auth);
    return { user };
  }
  const auth = basic(userId, secret);
  const user = await send<UserInfo>('GET', '/auth/api/user/info', undefined, undefined, auth);
  if (user.type === 'user') {
    const name = `web-session-${new Date().toISOString().replace(/[:T]/g, '-').slice(0, 19)}-${Math.random().toString(36).slice(2, 6)}`;
    const expiredAt = new Date(Date.now() + SESSION_HOURS * 3600_000).toISOString();
    try {
      const created = await send<{ id: string }>('POST', `/auth/api/user/token/${encodeURIComponent(user.userId)}/${encodeURIComponent(name)}`, undefined, { expiredAt }, auth);
      setAuthorization(`Bearer ${created.id}`);
      return { user, sessionToken: name };
    } catch {
      // Could not create a session token: keep the Basic credentials in memory instead.
    }
  }
  setAuthorization(auth);
  return { user };
}

export async function signOut(session: Session | undefined): Promise<void> {
  if (session?.sessionToken) {
    try {
      await send('DELETE', `/auth/api/user/token/${encodeURIComponent(session.user.userId)}/${encodeURIComponent(session.sessionToken)}`);
    } catch {
      // Expired or already revoked: nothing left to revoke.
    }
  }
  setAuthorization(undefined);
}

export function whoAmI(): Promise<UserInfo> {
  return get<UserInfo>('/auth/api/user/info');
}
