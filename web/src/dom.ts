// DOM building for the app. The one rule (docs/security.md, "Web app"): user content
// reaches the page only as text (textContent) or as attribute values set here; nothing is
// ever parsed as HTML (no innerHTML, insertAdjacentHTML, document.write).

type Attrs = Record<string, string | number | boolean | undefined>;
type Child = Node | string | null | undefined | false;

/** An element with attributes (skipped when undefined or false) and children (strings
 *  become text nodes). `on*` attributes are refused: handlers are added with `on()`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (/^on/i.test(k)) throw new Error(`event handler attribute ${k}: use addEventListener`);
    el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** The element with this id (the page's static structure; throws if missing). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

export function clear(el: Element): void {
  el.replaceChildren();
}

/** A local time for a message. */
export function timeOf(ts: number): string {
  const d = new Date(ts);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}
