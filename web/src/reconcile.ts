// Keeps a list element's children equal to a keyed list with the fewest DOM changes: an
// item whose signature is unchanged keeps its element (so live regions announce only
// what is new, and images are not reloaded); focus inside a replaced item moves to the
// same control of its replacement.

export interface Item {
  key: string;
  sig: string;
  make(): HTMLElement;
}

const sigs = new WeakMap<Element, string>();

function focusKey(list: HTMLElement): { key: string; label: string } | null {
  const a = document.activeElement;
  if (!(a instanceof HTMLElement) || !list.contains(a)) return null;
  const item = a.closest<HTMLElement>('[data-key]');
  if (!item) return null;
  return { key: item.dataset.key ?? '', label: a.getAttribute('aria-label') ?? a.textContent ?? '' };
}

export function reconcile(list: HTMLElement, items: Item[]): void {
  const focus = focusKey(list);
  const existing = new Map<string, HTMLElement>();
  for (const el of Array.from(list.children)) {
    if (el instanceof HTMLElement && el.dataset.key !== undefined) existing.set(el.dataset.key, el);
  }
  let prev: Element | null = null;
  const keep = new Set<string>();
  for (const it of items) {
    keep.add(it.key);
    let el = existing.get(it.key);
    if (!el || sigs.get(el) !== it.sig) {
      const fresh = it.make();
      fresh.dataset.key = it.key;
      sigs.set(fresh, it.sig);
      if (el) el.replaceWith(fresh);
      el = fresh;
    }
    const want: Element | null = prev ? prev.nextElementSibling : list.firstElementChild;
    if (want !== el) list.insertBefore(el, want);
    prev = el;
  }
  for (const [k, el] of existing) if (!keep.has(k)) el.remove();
  if (focus && (!(document.activeElement instanceof HTMLElement) || !list.contains(document.activeElement))) {
    const item = Array.from(list.children).find((c) => c instanceof HTMLElement && c.dataset.key === focus.key);
    const target = item
      ? Array.from(item.querySelectorAll<HTMLElement>('button')).find((b) => (b.getAttribute('aria-label') ?? b.textContent) === focus.label) ?? item.querySelector<HTMLElement>('button')
      : null;
    target?.focus();
  }
}
