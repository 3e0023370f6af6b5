// The XSS corpus (xss-corpus.txt) as messages, group titles (handles allow only
// a-z 0-9 _ . -, so no payload fits in a name), a quote, a thread reply, uploaded file names
// and search snippets. Every payload would call window.__xss() if the app let the browser
// interpret it; a trap reports any call, and dialogs are watched too. One of the two
// browsers bypasses the Content-Security-Policy, so the test checks the app's own
// rendering and not only the CSP's backstop. The text must appear literally, and no
// element or javascript: URL may come out of user content.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createDirect, createGroup, eventually, launch, makePng, message, openApp, openConversation, register, screenshot, send, startApp, timeline } from './lib.mjs';

const corpus = readFileSync(new URL('./xss-corpus.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'));

// What the app does to a file name before sending it (web/src/app.ts, safeFileName).
const fileName = (n) => n.replace(/[/\\\u0000-\u001f\u007f]/g, '_');

// Elements and attributes that user content must never produce.
// Looked for in document.body (the page's own markup has none of them).
const INJECTED =
  'script, iframe, object, embed, svg, math, video, audio, marquee, details, base, meta, template, noscript, x, ' +
  'select, style, link, [onerror], [onload], [onclick], [onfocus], [onmouseover], [ontoggle], [onstart], ' +
  'a[href^="javascript" i], form[action^="javascript" i], input[autofocus], [contenteditable]';

async function trapped(browser, srv, options) {
  const who = await openApp(browser, srv, options);
  who.hits = [];
  who.dialogs = [];
  await who.context.exposeBinding('__xssHit', (_src, where) => who.hits.push(where));
  await who.context.addInitScript(() => {
    window.__xss = () => window.__xssHit(String(new Error('xss').stack));
  });
  who.page.on('dialog', (d) => {
    who.dialogs.push(d.message());
    void d.dismiss();
  });
  await who.page.reload(); // with the trap installed
  return who;
}

test('the XSS corpus is shown as text everywhere and never runs', async (t) => {
  assert.ok(corpus.length >= 40, `the corpus has dozens of payloads (${corpus.length})`);
  const srv = await startApp(t);
  const browser = await launch(t);
  const ann = await trapped(browser, srv, {});
  const bob = await trapped(browser, srv, { bypassCSP: true });
  await register(ann.page, 'ann');
  await register(bob.page, 'bob');

  // Group titles.
  const titles = corpus.filter((p) => Buffer.byteLength(p) <= 200).slice(0, 8);
  for (const title of titles) await createGroup(ann.page, title, ['bob']);

  // Messages, a quote and a thread reply in a direct conversation.
  await createDirect(ann.page, 'bob');
  for (const p of corpus) await send(ann.page, p);
  await message(ann.page, corpus.at(-1)).waitFor();
  const quoted = message(ann.page, corpus[0]);
  await quoted.getByRole('button', { name: 'Reply quoting this message' }).click();
  await send(ann.page, corpus[3]);
  await quoted.getByRole('button', { name: 'Reply in thread' }).click();
  const threadInput = ann.page.getByRole('textbox', { name: 'Reply in thread' });
  await threadInput.fill(corpus[7]);
  await threadInput.press('Enter');
  await message(ann.page, corpus[7], '#side-list').waitFor();
  await ann.page.keyboard.press('Escape');

  // Uploaded files named with payloads (an image, so the name is also an alt text).
  const files = corpus.filter((p) => !p.includes('/')).slice(0, 5);
  await ann.page.setInputFiles(
    '#attach',
    files.map((name, i) => ({ name, mimeType: i === 0 ? 'image/png' : 'text/plain', buffer: i === 0 ? makePng(8, 8) : Buffer.from(name) })),
  );
  await eventually(async () => (await ann.page.locator('#pending-files li').count()) === files.length, 'the uploads');
  await send(ann.page, 'files');

  await openConversation(bob.page, 'ann');
  await message(bob.page, 'files').waitFor();
  const want = [...corpus, corpus[3], 'files'];
  for (const who of [ann, bob]) {
    const page = who.page;
    await message(page, 'files').waitFor();
    // Older pages through the "Load older messages" button (scrolling it into view may
    // load the last page first, which hides it).
    const older = page.getByRole('button', { name: 'Load older messages' });
    await eventually(async () => {
      if (!(await older.isVisible())) return true;
      await older.click({ timeout: 1000 }).catch(() => {});
      return false;
    }, 'every older page');
    assert.deepEqual(await timeline(page), want, 'every payload appears literally, once, in order');
    const names = await page.locator('#conv-list .conv-name').allTextContents();
    for (const title of titles) assert.ok(names.includes(title), `the title appears literally: ${title}`);
    const quote = await page.locator('#messages .msg-quote').allTextContents();
    assert.deepEqual(quote, [`ann: ${corpus[0]}`]);
    const fileButtons = await page.locator('#messages .attachments .file-name').allTextContents();
    assert.deepEqual(
      fileButtons.map((s) => s.replace(/ \(\d+(\.\d)? (B|KiB)\)$/, '')),
      files.map(fileName),
    );
    await page.locator(`#messages img[alt="${fileName(files[0]).replace(/["\\]/g, '\\$&')}"]`).waitFor();
  }

  // The thread and a search through the payloads' words, on the browser without the CSP.
  await message(bob.page, corpus[0]).getByRole('button', { name: 'Open thread, 1 reply' }).click();
  await message(bob.page, corpus[7], '#side-list').waitFor();
  await bob.page.getByRole('searchbox', { name: 'Search messages' }).fill('xss');
  await bob.page.getByRole('button', { name: 'Search', exact: true }).click();
  await eventually(async () => (await bob.page.locator('#side-list .search-result').count()) >= 10, 'search results');
  await screenshot(bob.page, 'xss-corpus');

  for (const [name, who] of [['ann', ann], ['bob (CSP bypassed)', bob]]) {
    // Give anything deferred (image errors, autofocus, timers) a moment to run.
    await who.page.waitForTimeout(500);
    const injected = await who.page.evaluate((sel) => Array.from(document.body.querySelectorAll(sel)).map((e) => e.outerHTML.slice(0, 120)), INJECTED);
    assert.deepEqual(injected, [], `${name}: no element came out of user content`);
    assert.deepEqual(who.hits, [], `${name}: no payload ran`);
    assert.deepEqual(who.dialogs, [], `${name}: no dialog opened`);
    assert.deepEqual(who.problems, [], `${name}: no page errors or CSP violations`);
  }
});

test('the trap catches a payload that is rendered as HTML (the test can fail)', async (t) => {
  const srv = await startApp(t);
  const browser = await launch(t);
  const who = await trapped(browser, srv, { bypassCSP: true });
  // What the app must never do, done on purpose: the trap sees it.
  await who.page.evaluate((p) => {
    const div = document.createElement('div');
    div.innerHTML = p;
    document.body.append(div);
  }, '<img src=x onerror=window.__xss()>');
  await eventually(() => who.hits.length > 0, 'the trap to fire');
  const injected = await who.page.evaluate((sel) => document.body.querySelectorAll(sel).length, INJECTED);
  assert.ok(injected > 0, 'the injected-element check sees it too');
});
