// Attachments: previews of images and downloads of other files. Downloads need the bearer
// token, so the bytes are fetched and shown through blob: URLs; the URL is built only from
// a server-issued upload id (64 hex digits), never from anything a user typed.
import type { Attachment } from '../../sdk/js/src/index.js';
import { h } from './dom.js';

const PREVIEWED = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const ID = /^[0-9a-f]{64}$/;
const cache = new Map<string, Promise<string>>(); // upload id -> blob: URL

async function blobUrl(id: string, token: () => string): Promise<string> {
  if (!ID.test(id)) throw new Error('not an upload id');
  let p = cache.get(id);
  if (!p) {
    p = fetch(`/v1/uploads/${id}`, { headers: { authorization: `Bearer ${token()}` } }).then(async (r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return URL.createObjectURL(await r.blob());
    });
    p.catch(() => cache.delete(id));
    cache.set(id, p);
  }
  return p;
}

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The list of a message's attachments: image previews, and a download button for each. */
export function renderAttachments(list: Attachment[], token: () => string): HTMLElement | null {
  if (list.length === 0) return null;
  const ul = h('ul', { class: 'attachments', 'aria-label': 'Attachments' });
  for (const a of list) {
    const li = h('li', { class: 'attachment', 'data-type': a.type });
    if (PREVIEWED.has(a.type) && ID.test(a.id)) {
      const img = h('img', { alt: a.name, 'data-upload': a.id });
      if (a.width && a.height) {
        img.width = Math.min(a.width, 224);
        img.height = Math.round((img.width * a.height) / a.width);
      }
      blobUrl(a.id, token).then(
        (u) => (img.src = u),
        () => img.setAttribute('data-error', 'unavailable'),
      );
      li.append(img);
    }
    const btn = h('button', { type: 'button', class: 'link file-name', 'aria-label': `Download ${a.name}` }, `${a.name} (${size(a.size)})`);
    btn.addEventListener('click', () => {
      blobUrl(a.id, token).then((u) => {
        const link = h('a', { href: u, download: a.name });
        link.click();
      });
    });
    li.append(btn);
    ul.append(li);
  }
  return ul;
}
