// Helpers for the browser tests: the real parley binary serving the built web app
// (PARLEY_WEB_DIR, default <repo>/build/web), headless Chromium through playwright-core,
// and app-level steps driven through the page's labelled controls. Every page is watched
// for uncaught errors and Content-Security-Policy violations, which fail the test.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { startServer } from '../node/lib/server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = resolve(process.env.PARLEY_WEB_DIR ?? join(here, '../../build/web'));
export const ARTIFACTS = resolve(process.env.PARLEY_ARTIFACTS ?? join(here, '../../build/test-artifacts/browser'));
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
export const TIMEOUT = 15_000;

/** The server with the web app; stopped after the test. */
export async function startApp(t, extraArgs = []) {
  return startServer(t, { extraArgs: ['--set', `web.dir=${WEB_DIR}`, ...extraArgs] });
}

/** Headless Chromium; closed after the test. */
export async function launch(t) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  return browser;
}

/** A new browser context (its own storage: one person's browser) with one page on the
 *  app. `problems` collects uncaught page errors and CSP violations. */
export async function openApp(browser, srv, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, ...options });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto(srv.baseUrl + '/');
  return { context, page, problems };
}

/** Registers `handle` through the login form and waits for the chat screen. */
export async function register(page, handle, password = 'correct horse battery') {
  await page.getByLabel('Handle', { exact: true }).fill(handle);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Register' }).click();
  await page.locator('#me').filter({ hasText: handle }).waitFor();
  await page.locator('#connection[data-state="online"]').waitFor();
}

/** Creates a direct conversation with `peer` through the dialog; it opens. */
export async function createDirect(page, peer) {
  await page.getByRole('button', { name: 'New direct' }).click();
  await page.locator('#new-conv-handles').fill(peer);
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#conv-title').filter({ hasText: peer }).waitFor();
}

/** Creates a group through the dialog; it opens. */
export async function createGroup(page, title, members) {
  await page.getByRole('button', { name: 'New group' }).click();
  await page.getByLabel('Group title').fill(title);
  await page.getByLabel('Members (handles, separated by commas)').fill(members.join(', '));
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForFunction((t) => document.querySelector('#conv-title')?.textContent === t, title);
}

/** Opens the conversation whose list entry's name is exactly `name`. */
export async function openConversation(page, name) {
  await conversationButton(page, name).click();
  await page.waitForFunction((n) => document.querySelector('#conv-title')?.textContent === n, name);
}

export function conversationButton(page, name) {
  return page.locator('#conv-list button').filter({ has: page.locator('.conv-name', { hasText: name }) }).first();
}

/** Types a message and presses Enter. */
export async function send(page, text) {
  const input = page.getByRole('textbox', { name: 'Message', exact: true });
  await input.fill(text);
  await input.press('Enter');
}

/** The texts of the open conversation's timeline, in order (pending ones included). */
export async function timeline(page) {
  return page.locator('#messages > li .msg-text').allTextContents();
}

/** The message item (stored, not pending) of the open conversation with exactly `text`. */
export function message(page, text, list = '#messages') {
  return page.locator(`${list} > li[data-seq]`).filter({ has: page.locator('.msg-text', { hasText: new RegExp(`^${escapeRe(text)}$`) }) });
}

export function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Waits until `fn()` (async) returns a truthy value, failing after TIMEOUT with `what`. */
export async function eventually(fn, what, timeout = TIMEOUT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Saves a full-page screenshot as <artifacts>/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid RGB PNG of w x h pixels in one colour, for attachment previews. */
export function makePng(w, h, [r, g, b] = [40, 87, 214]) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set([r, g, b], y * (w * 3 + 1) + 1 + x * 3);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Visible controls without an accessible name (aria-label, aria-labelledby, a <label>, or
 *  text content), as short descriptions; [] when every control is labelled. */
export async function unlabelledControls(page) {
  return page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('button, input, textarea, select, [role="button"]')) {
      const visible = el.getClientRects().length > 0 || (el.labels && [...el.labels].some((l) => l.getClientRects().length > 0));
      if (!visible) continue;
      const named =
        (el.getAttribute('aria-label') ?? '').trim() !== '' ||
        (el.getAttribute('aria-labelledby') ?? '').trim() !== '' ||
        (el.labels && [...el.labels].some((l) => l.textContent.trim() !== '')) ||
        (el.tagName === 'BUTTON' && el.textContent.trim() !== '');
      if (!named) out.push(el.outerHTML.slice(0, 100));
    }
    return out;
  });
}
