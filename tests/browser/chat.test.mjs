// End-to-end tests of the web app: two browser contexts (two people) chat through the real
// server. Offline sends, a reload with an unsent message, threads, quotes, reactions,
// receipts, edits, deletes, typing, presence, mention badges, attachments, search and the
// phone-width layout, each asserted on the DOM of both sides. Screenshots go to
// $PARLEY_ARTIFACTS (build/test-artifacts/browser).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  conversationButton, createDirect, createGroup, eventually, launch, makePng, message, openApp,
  openConversation, register, screenshot, send, startApp, timeline, unlabelledControls,
} from './lib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ann and bob, each in a browser context of their own, with their direct conversation open
// on both sides.
async function pair(t) {
  const srv = await startApp(t);
  const browser = await launch(t);
  const ann = await openApp(browser, srv);
  await register(ann.page, 'ann');
  const bob = await openApp(browser, srv);
  await register(bob.page, 'bob');
  await createDirect(ann.page, 'bob');
  await conversationButton(bob.page, 'ann').waitFor();
  await openConversation(bob.page, 'ann');
  t.after(() => {
    assert.deepEqual(ann.problems, [], 'ann: page errors or CSP violations');
    assert.deepEqual(bob.problems, [], 'bob: page errors or CSP violations');
  });
  return { srv, browser, ann, bob };
}

// The position the page's client stored for `conv` (its IndexedDB, as web/src/connection.ts
// names it), or 0.
const storedPosition = (page, handle, conv) =>
  page.evaluate(
    ([name, conv]) =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open(name);
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const get = db.transaction('positions', 'readonly').objectStore('positions').get(conv);
          get.onerror = () => reject(get.error);
          get.onsuccess = () => {
            db.close();
            resolve(get.result?.seq ?? 0);
          };
        };
      }),
    [`parley:${handle}@${new URL(page.url()).host}`, conv],
  );

const pendingCount = (page) => page.locator('#messages > li.pending').count();
const own = (page, prefix) => timeline(page).then((all) => all.filter((x) => x.startsWith(prefix)));

test('two people chat both ways: unread badge, presence dot, read receipts, typing', async (t) => {
  const srv = await startApp(t);
  const browser = await launch(t);
  const ann = await openApp(browser, srv);
  await register(ann.page, 'ann');
  const bob = await openApp(browser, srv);
  await register(bob.page, 'bob');
  await createDirect(ann.page, 'bob');
  await send(ann.page, 'hello bob');
  await message(ann.page, 'hello bob').waitFor();

  // bob has not opened it: an unread badge, and ann shown online.
  const entry = conversationButton(bob.page, 'ann');
  await entry.locator('[data-badge="unread"]', { hasText: /^1$/ }).waitFor();
  await entry.locator('.dot[data-presence="online"]').waitFor();
  assert.match(await entry.getAttribute('aria-label'), /^ann, 1 unread, online$/);
  await screenshot(bob.page, 'chat-unread-badge');
  // bob's browser has it (delivered) but has not shown it (not read).
  await message(ann.page, 'hello bob').locator('.msg-state[data-state="delivered"]').waitFor();

  await openConversation(bob.page, 'ann');
  await message(bob.page, 'hello bob').waitFor();
  await eventually(async () => (await entry.locator('[data-badge]').count()) === 0, 'the badge to go');
  // bob read it: ann's message says so.
  await message(ann.page, 'hello bob').locator('.msg-state[data-state="read"]').waitFor();

  await send(bob.page, 'hi ann');
  await message(ann.page, 'hi ann').waitFor();
  assert.deepEqual(await timeline(ann.page), ['hello bob', 'hi ann']);
  assert.deepEqual(await timeline(bob.page), ['hello bob', 'hi ann']);
  await message(bob.page, 'hi ann').locator('.msg-state[data-state="read"]').waitFor();

  await ann.page.getByRole('textbox', { name: 'Message', exact: true }).fill('typing something');
  await bob.page.locator('#typing', { hasText: 'ann is typing…' }).waitFor();
  await screenshot(bob.page, 'chat-typing');
  await screenshot(ann.page, 'chat-read-receipts');
  assert.deepEqual(ann.problems, []);
  assert.deepEqual(bob.problems, []);

  // ann closes her browser: bob's list shows her offline.
  await ann.context.close();
  await entry.locator('.dot[data-presence="offline"]').waitFor();

  // bob logs out (the token is revoked) and logs in again: his conversation is there.
  await bob.page.getByRole('button', { name: 'Log out' }).click();
  await bob.page.locator('#login-view:not([hidden])').waitFor();
  await bob.page.getByLabel('Handle', { exact: true }).fill('bob');
  await bob.page.getByLabel('Password', { exact: true }).fill('not the password');
  await bob.page.getByRole('button', { name: 'Log in' }).click();
  await bob.page.locator('#login-error', { hasText: /unauthenticated|password/ }).waitFor();
  await bob.page.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await bob.page.getByRole('button', { name: 'Log in' }).click();
  await conversationButton(bob.page, 'ann').waitFor();
  await openConversation(bob.page, 'ann');
  assert.deepEqual(await timeline(bob.page), ['hello bob', 'hi ann']);
  assert.deepEqual(bob.problems, []);
});

test('messages sent offline are pending, then arrive exactly once and in order on both sides', async (t) => {
  const { ann, bob } = await pair(t);
  await send(ann.page, 'before');
  await message(bob.page, 'before').waitFor();

  await bob.context.setOffline(true);
  await bob.page.locator('#connection[data-state="offline"]').waitFor();
  for (const i of [1, 2, 3]) await send(bob.page, `offline ${i}`);
  await eventually(async () => (await pendingCount(bob.page)) === 3, 'three pending messages');
  assert.equal(await bob.page.locator('#messages > li.pending .msg-state[data-state="pending"]').count(), 3);
  await screenshot(bob.page, 'offline-pending');
  await sleep(700);
  assert.deepEqual(await own(ann.page, 'offline'), [], 'nothing left the offline browser');

  await bob.context.setOffline(false);
  const want = ['offline 1', 'offline 2', 'offline 3'];
  await eventually(async () => (await own(ann.page, 'offline')).length === 3, 'ann to get all three');
  await eventually(async () => (await pendingCount(bob.page)) === 0, 'bob to have nothing pending');
  assert.deepEqual(await timeline(ann.page), ['before', ...want]);
  assert.deepEqual(await timeline(bob.page), ['before', ...want]);
  await sleep(1200); // a late duplicate would show up by now
  assert.deepEqual(await timeline(ann.page), ['before', ...want]);
  assert.deepEqual(await timeline(bob.page), ['before', ...want]);

  // The server has each once: fresh page loads show the same history.
  for (const p of [ann.page, bob.page]) {
    await p.reload();
    await message(p, 'offline 3').waitFor();
    assert.deepEqual(await timeline(p), ['before', ...want]);
  }
  await screenshot(ann.page, 'offline-arrived');
});

test('a reload keeps an unsent message, which is sent exactly once after reconnecting', async (t) => {
  const { ann, bob } = await pair(t);
  await send(bob.page, 'first');
  await message(ann.page, 'first').waitFor();

  await bob.context.setOffline(true);
  await bob.page.locator('#connection[data-state="offline"]').waitFor();
  await send(bob.page, 'survives a reload');
  await bob.page.locator('#messages > li.pending', { hasText: 'survives a reload' }).waitFor();

  // Reload while the server cannot be reached (the page itself still loads): the API and
  // the WebSocket are refused until `blocked` is cleared.
  let blocked = true;
  await bob.context.route('**/v1/**', (r) => (blocked ? r.abort() : r.continue()));
  await bob.context.routeWebSocket(/\/v1\/ws/, (ws) => (blocked ? ws.close() : ws.connectToServer()));
  await bob.context.setOffline(false);
  await bob.page.reload();
  const pending = bob.page.locator('#messages > li.pending', { hasText: 'survives a reload' });
  await pending.waitFor();
  assert.equal(await pending.locator('.msg-state').getAttribute('data-state'), 'pending');
  await screenshot(bob.page, 'reload-pending');
  await sleep(500);
  assert.deepEqual(await own(ann.page, 'survives'), []);

  blocked = false;
  await bob.context.setOffline(true); // the browser's network comes back: reconnect at once
  await bob.context.setOffline(false);
  await message(ann.page, 'survives a reload').waitFor();
  await eventually(async () => (await pendingCount(bob.page)) === 0, 'nothing pending');
  await message(bob.page, 'survives a reload').waitFor();
  await sleep(1200);
  assert.deepEqual(await timeline(ann.page), ['first', 'survives a reload']);
  assert.deepEqual(await timeline(bob.page), ['first', 'survives a reload']);
  await ann.page.reload();
  await message(ann.page, 'survives a reload').waitFor();
  assert.deepEqual(await timeline(ann.page), ['first', 'survives a reload'], 'stored once');
});

test('threads, quotes, reactions, edits, deletes, attachments, search and mentions across two people', async (t) => {
  const { ann, bob } = await pair(t);
  await send(ann.page, 'root message');
  const bobRoot = message(bob.page, 'root message');
  await bobRoot.waitFor();

  // A thread reply from bob; ann sees the count and the reply.
  // By keyboard: focus the button and press Enter.
  await bobRoot.getByRole('button', { name: 'Reply in thread' }).focus();
  await bob.page.keyboard.press('Enter');
  await bob.page.locator('#side-panel:not([hidden])').waitFor();
  const threadInput = bob.page.getByRole('textbox', { name: 'Reply in thread' });
  await threadInput.fill('first thread reply');
  await threadInput.press('Enter');
  await message(bob.page, 'first thread reply', '#side-list').waitFor();
  const annRoot = message(ann.page, 'root message');
  await annRoot.getByRole('button', { name: 'Open thread, 1 reply' }).click();
  await message(ann.page, 'first thread reply', '#side-list').waitFor();
  await screenshot(ann.page, 'thread-panel');
  assert.deepEqual(await timeline(ann.page), ['root message'], 'thread replies stay out of the timeline');
  await ann.page.keyboard.press('Escape');
  await ann.page.locator('#side-panel[hidden]').waitFor({ state: 'attached' });

  // A reaction from ann on bob's message.
  await send(bob.page, 'react to me');
  const annReact = message(ann.page, 'react to me');
  await annReact.getByRole('button', { name: 'React with 👍' }).focus();
  await ann.page.keyboard.press('Enter');
  await message(bob.page, 'react to me').locator('.reaction[data-emoji="👍"]', { hasText: '👍 1' }).waitFor();
  assert.equal(await annReact.locator('.reaction[data-emoji="👍"]').getAttribute('aria-pressed'), 'true');

  // A quote.
  await bobRoot.getByRole('button', { name: 'Reply quoting this message' }).click();
  await send(bob.page, 'quoting you');
  await message(ann.page, 'quoting you').locator('.msg-quote', { hasText: 'ann: root message' }).waitFor();

  // An edit and a delete by ann.
  await annRoot.getByRole('button', { name: 'Edit message' }).click();
  const input = ann.page.getByRole('textbox', { name: 'Message', exact: true });
  assert.equal(await input.inputValue(), 'root message');
  await input.fill('root message, edited');
  await input.press('Enter');
  const edited = message(bob.page, 'root message, edited');
  await edited.locator('.msg-edited').waitFor();
  await send(ann.page, 'to be deleted');
  await message(bob.page, 'to be deleted').waitFor();
  const del = message(ann.page, 'to be deleted').getByRole('button', { name: 'Delete message' });
  await del.click();
  await del.click();
  await bob.page.locator('#messages > li.deleted .msg-text', { hasText: 'Message deleted' }).waitFor();
  await eventually(async () => !(await timeline(bob.page)).includes('to be deleted'), 'the text to go');

  // An image attachment: previewed on the other side.
  await ann.page.setInputFiles('#attach', { name: 'blue.png', mimeType: 'image/png', buffer: makePng(64, 48) });
  await ann.page.locator('#pending-files', { hasText: 'blue.png' }).waitFor();
  await send(ann.page, 'a picture');
  const img = message(bob.page, 'a picture').locator('img[alt="blue.png"]');
  await img.waitFor();
  await eventually(() => img.evaluate((el) => el.complete && el.naturalWidth === 64 && el.src.startsWith('blob:')), 'the preview to load');
  await screenshot(bob.page, 'reactions-quotes-attachments');

  // Search.
  await bob.page.getByRole('searchbox', { name: 'Search messages' }).fill('edited');
  await bob.page.getByRole('button', { name: 'Search', exact: true }).click();
  await eventually(async () => (await bob.page.locator('#side-list .search-result mark').allTextContents()).includes('edited'), 'a search hit');
  await screenshot(bob.page, 'search');
  await bob.page.keyboard.press('Escape');

  // A mention in a group bob does not have open: a mention badge.
  await createGroup(ann.page, 'team', ['bob']);
  await send(ann.page, '@bob look here');
  const team = conversationButton(bob.page, 'team');
  await team.locator('[data-badge="mentions"]', { hasText: '@1' }).waitFor();
  await screenshot(bob.page, 'mention-badge');

  // Every control on a busy screen has an accessible name.
  await edited.getByRole('button', { name: 'Open thread, 1 reply' }).click();
  await message(bob.page, 'first thread reply', '#side-list').waitFor();
  assert.deepEqual(await unlabelledControls(bob.page), []);

  // Phone width: the thread covers the screen; then one column; Back returns to the list.
  await bob.page.setViewportSize({ width: 375, height: 740 });
  await screenshot(bob.page, 'phone-375-thread');
  await bob.page.keyboard.press('Escape');
  await bob.page.locator('#side-panel').waitFor({ state: 'hidden' });
  await bob.page.locator('#conversation').waitFor({ state: 'visible' });
  assert.equal(await bob.page.locator('#sidebar').isVisible(), false);
  await screenshot(bob.page, 'phone-375-conversation');
  await bob.page.getByRole('button', { name: 'Back to conversations' }).click();
  await bob.page.locator('#sidebar').waitFor({ state: 'visible' });
  assert.equal(await bob.page.locator('#conversation').isVisible(), false);
  await screenshot(bob.page, 'phone-375-list');
});

test('the login form and the chat work from the keyboard alone', async (t) => {
  const srv = await startApp(t);
  const browser = await launch(t);
  const bob = await openApp(browser, srv);
  await register(bob.page, 'bob');
  const ann = await openApp(browser, srv);
  assert.deepEqual(await unlabelledControls(ann.page), [], 'the login form');
  // Handle, password, then Enter submits the form (log in fails: no such account yet);
  // Tab to Register and press it.
  await ann.page.keyboard.type('ann');
  await ann.page.keyboard.press('Tab');
  await ann.page.keyboard.type('correct horse battery');
  await ann.page.keyboard.press('Enter');
  await ann.page.locator('#login-error', { hasText: /unauthenticated|password/ }).waitFor();
  await ann.page.getByLabel('Password', { exact: true }).focus();
  await ann.page.keyboard.press('Tab'); // Log in
  await ann.page.keyboard.press('Tab'); // Register
  await ann.page.keyboard.press('Enter');
  await ann.page.locator('#connection[data-state="online"]').waitFor();
  assert.deepEqual(await unlabelledControls(ann.page), [], 'the chat screen');

  // New direct: the dialog takes focus; typing and Enter create and open it, focus goes to
  // the message box, Enter sends.
  await ann.page.getByRole('button', { name: 'New direct' }).focus();
  await ann.page.keyboard.press('Enter');
  assert.equal(await ann.page.evaluate(() => document.activeElement?.id), 'new-conv-handles');
  await ann.page.keyboard.type('bob');
  await ann.page.keyboard.press('Enter');
  await ann.page.locator('#conv-title', { hasText: 'bob' }).waitFor();
  await eventually(() => ann.page.evaluate(() => document.activeElement?.id === 'message-input'), 'focus in the message box');
  await ann.page.keyboard.type('sent from the keyboard');
  await ann.page.keyboard.press('Enter');
  await conversationButton(bob.page, 'ann').focus();
  await bob.page.keyboard.press('Enter');
  await message(bob.page, 'sent from the keyboard').waitFor();
  // Escape closes the dialog.
  await bob.page.getByRole('button', { name: 'New group' }).focus();
  await bob.page.keyboard.press('Enter');
  await bob.page.locator('#new-conv-dialog[open]').waitFor();
  await bob.page.keyboard.press('Escape');
  await eventually(() => bob.page.locator('#new-conv-dialog').evaluate((d) => !d.open), 'the dialog to close');
  assert.deepEqual(ann.problems, []);
  assert.deepEqual(bob.problems, []);
});

test('history scrolls back page by page through older messages', async (t) => {
  const { srv, ann, bob } = await pair(t);
  // 120 messages through the API (faster than typing them), then a fresh page.
  const convId = Number(await conversationButton(bob.page, 'ann').getAttribute('data-conv'));
  const token = await ann.page.evaluate(() => JSON.parse(localStorage.getItem('parley.session')).token);
  let lastSeq = 0;
  for (let i = 1; i <= 120; i++) {
    const r = await fetch(`${srv.baseUrl}/v1/rpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: i, op: 'send', conv: convId, client_msg_id: `hist-${i}`, text: `history ${i}` }),
    });
    assert.equal(r.status, 200);
    lastSeq = (await r.json()).result.seq;
  }
  // Bob's open page receives them live and stores its position (IndexedDB, after each
  // frame) before the reload; a reload before that would resume from an older position
  // and replay all 120.
  await message(bob.page, 'history 120').waitFor();
  await eventually(async () => (await storedPosition(bob.page, 'bob', convId)) >= lastSeq, "bob's stored position");
  await bob.page.reload();
  await message(bob.page, 'history 120').waitFor();
  // The newest page (50), plus whatever the resume replayed past the page's stored
  // positions: not everything.
  const first = await timeline(bob.page);
  assert.ok(first.length >= 50 && first.length < 120, `one page at first (${first.length})`);
  assert.equal(first.at(-1), 'history 120');
  // Scrolling to the top loads the older pages.
  await eventually(async () => {
    await bob.page.locator('#timeline').evaluate((el) => (el.scrollTop = 0));
    await sleep(200);
    return (await timeline(bob.page)).length >= 120;
  }, 'all 120 after scrolling');
  const all = await timeline(bob.page);
  assert.deepEqual(all, Array.from({ length: 120 }, (_, i) => `history ${i + 1}`));
  assert.equal(await bob.page.locator('#load-older').isVisible(), false, 'no more to load');
});
