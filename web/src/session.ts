// The logged-in account, kept in localStorage so a reload stays logged in. The token is a
// bearer token: anything that can run script in this origin could read it, which is why
// the CSP allows no script but the app's own (docs/security.md, "Web app").
import { login, register, type LoginResult } from '../../sdk/js/src/index.js';

const KEY = 'parley.session';

export interface Session {
  token: string;
  expiresMs: number;
  user: { id: number; handle: string };
}

export function loadSession(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null;
    if (s && typeof s.token === 'string' && s.user && typeof s.user.id === 'number') return s;
  } catch {
    /* a damaged entry is the same as none */
  }
  return null;
}

export function saveSession(s: Session): void {
  localStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession(): void {
  localStorage.removeItem(KEY);
}

function toSession(r: LoginResult): Session {
  return { token: r.token, expiresMs: r.expires_ms, user: r.user };
}

/** Logs in (registering first when `create`); rejects with the server's ParleyError. */
export async function signIn(handle: string, password: string, create: boolean): Promise<Session> {
  const server = location.origin;
  if (create) await register({ server }, handle, password);
  const s = toSession(await login({ server }, handle, password));
  saveSession(s);
  return s;
}
