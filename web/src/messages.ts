// One message as a list item: sender, time, quoted message, text (as text), attachments,
// reactions, thread summary, send state for the user's own messages, and its actions.
// Every control is a real button with a label.
import type { OutboxEntry } from '../../sdk/js/src/index.js';
import { renderAttachments } from './attachments.js';
import { h, timeOf } from './dom.js';
import type { Msg } from './model.js';

const confirming = new Map<string, number>(); // "conv:seq" -> until when a press deletes

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉'];

/** What a rendered message needs from the app. */
export interface MessageContext {
  conv: number;
  me: number;
  nameOf(user: number): string;
  stateOf(seq: number): string; // sent / delivered / read
  token(): string;
  inThread: boolean;
  reply(m: Msg): void;
  openThread(m: Msg): void;
  edit(m: Msg): void;
  remove(m: Msg): void;
  react(m: Msg, emoji: string, add: boolean): void;
}

function head(sender: string, ts: number, extra: (Node | string)[]): HTMLElement {
  return h('div', { class: 'msg-head' }, h('span', { class: 'msg-sender' }, sender), h('time', { datetime: new Date(ts).toISOString() }, timeOf(ts)), ...extra);
}

function stateLabel(state: string): HTMLElement {
  return h('span', { class: 'msg-state', 'data-state': state, 'aria-label': `Status: ${state}` }, state);
}

export function renderMessage(m: Msg, cx: MessageContext): HTMLLIElement {
  const mine = m.sender === cx.me;
  const li = h('li', {
    class: `msg${mine ? ' mine' : ''}${m.deleted ? ' deleted' : ''}`,
    'data-seq': m.seq,
    'data-sender': m.sender,
    'aria-label': `${cx.nameOf(m.sender)} at ${timeOf(m.ts)}`,
  });
  const extra: (Node | string)[] = [];
  if (m.edited && !m.deleted) extra.push(h('span', { class: 'msg-edited' }, '(edited)'));
  if (mine) extra.push(stateLabel(cx.stateOf(m.seq)));
  li.append(head(cx.nameOf(m.sender), m.ts, extra));
  if (m.replyTo) {
    const q = m.replyTo;
    const who = q.sender !== undefined ? `${cx.nameOf(q.sender)}: ` : '';
    li.append(h('blockquote', { class: 'msg-quote', 'data-quote': q.seq }, q.deleted ? 'Deleted message' : `${who}${q.text ?? '…'}`));
  }
  li.append(h('p', { class: 'msg-text' }, m.deleted ? 'Message deleted' : m.text));
  if (!m.deleted) {
    const files = renderAttachments(m.attachments, cx.token);
    if (files) li.append(files);
  }
  if (m.reactions.size > 0) {
    const box = h('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' });
    for (const [emoji, users] of m.reactions) {
      const mineToo = users.has(cx.me);
      const names = [...users].map((u) => cx.nameOf(u)).join(', ');
      const b = h('button', { type: 'button', class: 'secondary small reaction', 'aria-pressed': String(mineToo), 'data-emoji': emoji, title: names, 'aria-label': `${emoji} ${users.size}: ${names}` }, `${emoji} ${users.size}`);
      b.addEventListener('click', () => cx.react(m, emoji, !mineToo));
      box.append(b);
    }
    li.append(box);
  }
  if (m.deleted) return li;
  const actions = h('div', { class: 'msg-actions', role: 'group', 'aria-label': 'Message actions' });
  const button = (label: string, text: string, fn: () => void, cls = 'secondary small'): HTMLButtonElement => {
    const b = h('button', { type: 'button', class: cls, 'aria-label': label }, text);
    b.addEventListener('click', fn);
    actions.append(b);
    return b;
  };
  if (!cx.inThread && m.thread === undefined) {
    const n = m.replyCount;
    button(n > 0 ? `Open thread, ${n} ${n === 1 ? 'reply' : 'replies'}` : 'Reply in thread', n > 0 ? `Thread (${n})` : 'Thread', () => cx.openThread(m), 'secondary small thread-button');
  }
  if (!cx.inThread) button('Reply quoting this message', 'Reply', () => cx.reply(m));
  for (const emoji of QUICK_REACTIONS) {
    if (m.reactions.get(emoji)?.has(cx.me)) continue;
    button(`React with ${emoji}`, emoji, () => cx.react(m, emoji, true));
  }
  if (mine) {
    button('Edit message', 'Edit', () => cx.edit(m));
    // A second press within 4 s confirms (no modal dialog). Kept outside the element,
    // which may be re-rendered in between.
    const key = `${cx.conv}:${m.seq}`;
    const armed = (confirming.get(key) ?? 0) > Date.now();
    const del = button('Delete message', armed ? 'Confirm delete' : 'Delete', () => {
      if ((confirming.get(key) ?? 0) > Date.now()) {
        confirming.delete(key);
        return cx.remove(m);
      }
      confirming.set(key, Date.now() + 4000);
      del.textContent = 'Confirm delete';
      setTimeout(() => {
        if (del.isConnected) del.textContent = 'Delete';
      }, 4000);
    });
  }
  li.append(actions);
  return li;
}

/** A queued message of the user's own that the server has not acknowledged yet. */
export function renderPending(e: OutboxEntry, cx: { nameOf(u: number): string; me: number; failed?: string }): HTMLLIElement {
  const state = cx.failed ? 'failed' : 'pending';
  const li = h('li', { class: 'msg mine pending', 'data-cmid': e.client_msg_id });
  li.append(head(cx.nameOf(cx.me), e.created_ms, [stateLabel(state)]));
  li.append(h('p', { class: 'msg-text' }, e.text));
  const names = (e.attachments ?? []).map((a) => a.name ?? 'file');
  if (names.length > 0) li.append(h('p', { class: 'file-name' }, `Attaching: ${names.join(', ')}`));
  if (cx.failed) li.append(h('p', { class: 'error' }, cx.failed));
  return li;
}
