// Entry point: the login form, or the chat screen for a stored session. Signing in or out
// reloads the page, so one page load runs at most one chat screen (one client, one set of
// listeners).
import { ChatApp } from './app.js';
import { byId } from './dom.js';
import { clearSession, loadSession, signIn } from './session.js';

const NOTICE = 'parley.notice';

function showLogin(): void {
  byId('chat-view').hidden = true;
  byId('login-view').hidden = false;
  byId('login-error').textContent = sessionStorage.getItem(NOTICE) ?? '';
  sessionStorage.removeItem(NOTICE);
  byId('login-handle').focus();
}

function signedOut(why: string): void {
  clearSession();
  if (why !== '') sessionStorage.setItem(NOTICE, why);
  location.reload();
}

async function showChat(): Promise<void> {
  const session = loadSession();
  if (!session) return showLogin();
  byId('login-view').hidden = true;
  byId('chat-view').hidden = false;
  const app = new ChatApp(session, signedOut);
  byId('logout').addEventListener('click', async () => {
    await app.conn.client.call('logout').catch(() => {});
    await app.conn.close();
    signedOut('');
  });
  await app.start();
}

function wireLogin(): void {
  const form = byId<HTMLFormElement>('login-form');
  const submit = async (create: boolean): Promise<void> => {
    const handle = byId<HTMLInputElement>('login-handle').value.trim().toLowerCase();
    const password = byId<HTMLInputElement>('login-password').value;
    byId('login-error').textContent = '';
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    try {
      await signIn(handle, password, create);
      location.reload();
    } catch (e) {
      byId('login-error').textContent = (e as Error).message;
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void submit(false);
  });
  byId('register-submit').addEventListener('click', () => void submit(true));
}

wireLogin();
void showChat();
