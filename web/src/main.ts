// Entry point: the login form, or the chat screen for a stored session.
import { ChatApp } from './app.js';
import { byId } from './dom.js';
import { loadSession, signIn } from './session.js';

function showLogin(message = ''): void {
  byId('chat-view').hidden = true;
  byId('login-view').hidden = false;
  byId('login-error').textContent = message;
  byId('login-handle').focus();
}

async function showChat(): Promise<void> {
  const session = loadSession();
  if (!session) return showLogin();
  byId('login-view').hidden = true;
  byId('chat-view').hidden = false;
  const app = new ChatApp(session, (why) => showLogin(why));
  byId('logout').addEventListener('click', async () => {
    await app.conn.client.call('logout').catch(() => {});
    await app.conn.close();
    localStorage.removeItem('parley.session');
    location.reload();
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
      byId<HTMLInputElement>('login-password').value = '';
      await showChat();
    } catch (e) {
      byId('login-error').textContent = (e as Error).message;
    } finally {
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
