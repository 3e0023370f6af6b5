// The chat screen: conversation list, timeline, composer, thread and search panel. State
// lives in the SDK client (connection, outbox, send states, conversation list, typing,
// presence) and in ConvModel (messages of opened conversations); the DOM is rebuilt from
// them with reconcile(), user content always as text.
import type { AttachmentRef, Conversation, Member, OutboxEntry, ParleyClient, ParleyError, ParleyEvent, SearchResult } from '../../sdk/js/src/index.js';
import { Connection } from './connection.js';
import { byId, clear, h, timeOf } from './dom.js';
import { renderMessage, renderPending, type MessageContext } from './messages.js';
import { ConvModel, type Msg } from './model.js';
import { reconcile, type Item } from './reconcile.js';
import { saveSession, type Session } from './session.js';

const PAGE = 50;

/** A file name the server accepts (1-255 bytes, no '/', '\' or control characters). */
export function safeFileName(name: string): string {
  // eslint-disable-next-line no-control-regex
  let n = name.replace(/[/\\\u0000-\u001f\u007f]/g, '_');
  while (new TextEncoder().encode(n).length > 255) n = n.slice(0, -1);
  return n === '' || n === '.' || n === '..' ? 'file' : n;
}

export class ChatApp {
  readonly conn: Connection;
  #s: Session;
  #models = new Map<number, ConvModel>();
  #loading = new Map<number, ParleyEvent[]>();
  #users = new Map<number, string>();
  #members = new Map<number, Member[]>();
  #fetchingMembers = new Set<number>();
  #current: number | null = null;
  #threadRoot: number | null = null;
  #replyTo: Msg | null = null;
  #editing: Msg | null = null;
  #files: AttachmentRef[] = [];
  #failed = new Map<string, { entry: OutboxEntry; error: string }>();
  #known = new Map<string, OutboxEntry>(); // queued entries seen, by client_msg_id
  #lastTyping = 0;
  #marking = new Map<string, number>();
  #dialogMode: 'direct' | 'group' = 'direct';
  #presence = new Map<number, string>(); // contacts' presence, from notices and presence.get
  #contactsAsked = new Set<number>(); // conversations whose members' presence was asked for

  constructor(session: Session, onSignedOut: (why: string) => void) {
    this.#s = session;
    this.#users.set(session.user.id, session.user.handle);
    this.conn = new Connection(session, {
      state: (st) => this.#showState(st),
      event: (e) => this.#onEvent(e),
      ack: (a) => this.#onAck(a.client_msg_id, a.conv, a.seq, a.ts),
      outbox: () => this.#renderCurrent(),
      messageState: () => this.#renderCurrent(),
      sendFailed: (f) => this.#onSendFailed(f.clientMsgId, f.error),
      receipts: (r) => r.conv === this.#current && this.#renderCurrent(),
      conversations: () => this.#onConversations(),
      presence: (p) => {
        this.#presence.set(p.user, p.state);
        this.#renderConversations();
      },
      typing: (t) => t.conv === this.#current && this.#renderTyping(),
      token: (t) => {
        this.#s = { ...this.#s, token: t.token, expiresMs: t.expiresMs };
        saveSession(this.#s);
      },
      authFailed: () => {
        void this.conn.close().then(() => onSignedOut('Your session has ended: log in again.'));
      },
    });
    this.#wire();
  }

  get #c(): ParleyClient {
    return this.conn.client;
  }

  // The conversation list: the client's once it has loaded one, before that (offline, at
  // start) the one cached in localStorage by the last session of this account, so queued
  // messages can be seen and added to while the server cannot be reached.
  #listFrom: ParleyClient | null = null; // the client that loaded the list shown
  get #cacheKey(): string {
    return `parley.cache.${this.#s.user.id}`;
  }

  #convs(): Conversation[] {
    // A client made after going offline and online again starts with an empty list.
    if (this.#listFrom === this.conn.client || this.conn.client.conversations.length > 0) return this.conn.client.conversations;
    try {
      const cached = JSON.parse(localStorage.getItem(this.#cacheKey) ?? 'null') as { convs: Conversation[] } | null;
      return cached?.convs ?? [];
    } catch {
      return [];
    }
  }

  #loadCache(): void {
    try {
      const cached = JSON.parse(localStorage.getItem(this.#cacheKey) ?? 'null') as { members: [number, Member[]][] } | null;
      for (const [conv, members] of cached?.members ?? []) this.#learnMembers(conv, members);
    } catch {
      /* no cache */
    }
  }

  #saveCache(): void {
    const convs = this.conn.client.conversations;
    const members = convs.filter((c) => this.#members.has(c.id)).map((c) => [c.id, this.#members.get(c.id)]);
    localStorage.setItem(this.#cacheKey, JSON.stringify({ convs, members }));
  }

  // Presence is announced to contacts on changes only: a conversation with someone new
  // (or a new connection) asks for the current states.
  #askPresence(): void {
    this.#c
      .presence()
      .then((r) => {
        for (const p of r.presence) this.#presence.set(p.user, p.state);
        this.#renderConversations();
      })
      .catch(() => {});
  }

  #onConversations(): void {
    const fresh = this.conn.client.conversations.filter((c) => !this.#contactsAsked.has(c.id));
    for (const c of fresh) this.#contactsAsked.add(c.id);
    if (fresh.length > 0) this.#askPresence();
    this.#listFrom = this.conn.client;
    this.#saveCache();
    this.#renderConversations();
  }

  async start(): Promise<void> {
    byId('me').textContent = this.#s.user.handle;
    this.#showState(this.conn.offline ? 'offline' : 'connecting');
    this.#loadCache();
    await this.conn.start();
    this.#renderConversations();
    const last = Number(sessionStorage.getItem('parley.open'));
    if (last > 0 && this.#convs().some((c) => c.id === last)) await this.open(last);
  }

  // ----- wiring ---------------------------------------------------------------------------

  #wire(): void {
    const input = byId<HTMLTextAreaElement>('message-input');
    byId('composer').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.#submit();
    });
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        void this.#submit();
      } else if (ev.key === 'Escape' && (this.#replyTo || this.#editing)) {
        ev.stopPropagation();
        this.#cancelContext();
      }
    });
    input.addEventListener('input', () => this.#typed());
    byId('composer-cancel').addEventListener('click', () => this.#cancelContext());
    byId<HTMLInputElement>('attach').addEventListener('change', (ev) => void this.#attach(ev.target as HTMLInputElement));
    const threadInput = byId<HTMLTextAreaElement>('thread-input');
    byId('thread-composer').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.#submitThread();
    });
    threadInput.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        void this.#submitThread();
      }
    });
    byId('side-close').addEventListener('click', () => this.#closePanel());
    document.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape') return;
      if (!byId('side-panel').hidden) this.#closePanel();
    });
    byId('timeline').addEventListener('scroll', () => {
      if (byId('timeline').scrollTop < 80) void this.#loadOlder();
    });
    byId('load-older').addEventListener('click', () => void this.#loadOlder());
    byId('back').addEventListener('click', () => {
      byId('chat-view').dataset.open = 'list';
      byId(`conv-${this.#current}`)?.focus();
    });
    byId('search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.#search();
    });
    byId('new-direct').addEventListener('click', () => this.#openDialog('direct'));
    byId('new-group').addEventListener('click', () => this.#openDialog('group'));
    byId('new-conv-cancel').addEventListener('click', () => byId<HTMLDialogElement>('new-conv-dialog').close());
    byId('new-conv-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.#createConversation();
    });
    document.addEventListener('visibilitychange', () => this.#markRead());
    // Presence: away while the window is in the background (only said on a connection).
    const away = (on: boolean) => this.#c.state === 'online' && void this.#c.setAway(on).catch(() => {});
    window.addEventListener('focus', () => away(false));
    window.addEventListener('blur', () => away(true));
  }

  #showState(st: string): void {
    // A conversation opened while the server could not be reached is loaded now.
    if (st === 'online' && this.#current !== null && !this.#models.has(this.#current)) void this.open(this.#current);
    if (st === 'online') this.#askPresence();
    const el = byId('connection');
    const shown = this.conn?.offline ? 'offline' : st;
    el.dataset.state = shown;
    el.textContent = shown === 'backing_off' ? 'reconnecting…' : shown === 'connecting' ? 'connecting…' : shown;
  }

  #notice(text: string): void {
    byId('notice').textContent = text;
  }

  #fail(what: string): (e: unknown) => void {
    return (e) => this.#notice(`${what}: ${(e as ParleyError).message ?? String(e)}`);
  }

  // ----- names ----------------------------------------------------------------------------

  #nameOf = (user: number): string => this.#users.get(user) ?? `user ${user}`;

  #learnMembers(conv: number, members: Member[]): void {
    this.#members.set(conv, members);
    for (const m of members) this.#users.set(m.id, m.handle);
  }

  #ensureMembers(conv: number): void {
    if (this.#members.has(conv) || this.#fetchingMembers.has(conv)) return;
    this.#fetchingMembers.add(conv);
    this.#c
      .call<{ conversation: Conversation }>('conv.get', { conv })
      .then((r) => {
        this.#learnMembers(conv, r.conversation.members ?? []);
        if (this.#listFrom === this.conn.client) this.#saveCache();
        this.#renderConversations();
        if (conv === this.#current) this.#renderCurrent();
      })
      .catch(() => {})
      .finally(() => this.#fetchingMembers.delete(conv));
  }

  #peerOf(c: Conversation): Member | undefined {
    return this.#members.get(c.id)?.find((m) => m.id !== this.#s.user.id);
  }

  #titleOf(c: Conversation): string {
    if (c.kind === 'group') return c.title && c.title !== '' ? c.title : `Group ${c.id}`;
    return this.#peerOf(c)?.handle ?? `Direct ${c.id}`;
  }

  // ----- conversation list ----------------------------------------------------------------

  #renderConversations(): void {
    const list = this.#convs();
    const items: Item[] = list.map((c) => {
      if (c.kind === 'direct') this.#ensureMembers(c.id);
      const title = this.#titleOf(c);
      const peer = c.kind === 'direct' ? this.#peerOf(c) : undefined;
      const presence = peer ? (this.#presence.get(peer.id) ?? 'offline') : '';
      const unread = c.id === this.#current ? 0 : (c.unread ?? 0);
      const mentions = c.id === this.#current ? 0 : (c.mentions ?? 0);
      return {
        key: String(c.id),
        sig: JSON.stringify([title, presence, unread, mentions, c.id === this.#current]),
        make: () => {
          const parts = [
            unread > 0 ? `${unread} unread` : '',
            mentions > 0 ? `${mentions} ${mentions === 1 ? 'mention' : 'mentions'}` : '',
            presence,
          ].filter((x) => x !== '');
          const b = h(
            'button',
            { type: 'button', id: `conv-${c.id}`, 'data-conv': c.id, 'aria-current': String(c.id === this.#current), 'aria-label': [title, ...parts].join(', ') },
            peer ? h('span', { class: 'dot', 'data-presence': presence, title: presence }) : h('span', { class: 'dot group-dot', 'aria-hidden': 'true' }),
            h('span', { class: 'conv-name' }, title),
            mentions > 0 ? h('span', { class: 'badge mention', 'data-badge': 'mentions' }, `@${mentions}`) : null,
            unread > 0 ? h('span', { class: 'badge', 'data-badge': 'unread' }, String(unread)) : null,
          );
          b.addEventListener('click', () => void this.open(c.id));
          return h('li', {}, b);
        },
      };
    });
    reconcile(byId('conv-list'), items);
    if (this.#current !== null) {
      const cur = list.find((c) => c.id === this.#current);
      if (cur) byId('conv-title').textContent = this.#titleOf(cur);
    }
  }

  // ----- opening a conversation -----------------------------------------------------------

  async open(conv: number): Promise<void> {
    if (this.#current !== conv) {
      this.#current = conv;
      this.#cancelContext();
      this.#files = [];
      this.#renderFiles();
      this.#notice('');
      clear(byId('messages'));
    }
    sessionStorage.setItem('parley.open', String(conv));
    byId('chat-view').dataset.open = 'conversation';
    byId('composer').hidden = false;
    this.#ensureMembers(conv);
    this.#renderConversations();
    this.#renderTyping();
    let model = this.#models.get(conv);
    if (!model) {
      model = new ConvModel();
      this.#models.set(conv, model);
      this.#loading.set(conv, []);
      try {
        const page = await this.#c.messages(conv, { limit: PAGE });
        model.addPage(page.messages);
        model.hasMore = page.has_more;
        model.loaded = true;
        this.#notice('');
      } catch (e) {
        this.#models.delete(conv);
        this.#fail('Could not load the conversation')(e);
      }
      for (const e of this.#loading.get(conv) ?? []) model.apply(e);
      this.#loading.delete(conv);
    }
    if (this.#current !== conv) return;
    this.#renderCurrent({ toBottom: true });
    byId('message-input').focus();
  }

  async #loadOlder(): Promise<void> {
    const conv = this.#current;
    const model = conv === null ? undefined : this.#models.get(conv);
    if (conv === null || !model || !model.loaded || !model.hasMore || byId('timeline').dataset.loading === '1') return;
    const before = model.oldest();
    if (before === undefined) return;
    byId('timeline').dataset.loading = '1';
    try {
      const page = await this.#c.messages(conv, { before, limit: PAGE });
      model.addPage(page.messages);
      model.hasMore = page.has_more;
      if (conv === this.#current) this.#renderCurrent({ keepBottom: true });
    } catch (e) {
      this.#fail('Could not load older messages')(e);
    } finally {
      byId('timeline').dataset.loading = '';
    }
  }

  // ----- rendering the timeline -----------------------------------------------------------

  #stateOf(conv: number, seq: number): string {
    if (this.#c.readBy(conv, seq).length > 0) return 'read';
    if (this.#c.deliveredTo(conv, seq).length > 0) return 'delivered';
    return 'sent';
  }

  #context(conv: number, inThread: boolean): MessageContext {
    return {
      conv,
      me: this.#s.user.id,
      nameOf: this.#nameOf,
      stateOf: (seq) => this.#stateOf(conv, seq),
      token: () => this.#c.token,
      inThread,
      reply: (m) => this.#startReply(m),
      openThread: (m) => void this.#openThread(m.seq),
      edit: (m) => this.#startEdit(m),
      remove: (m) => void this.#c.deleteMessage(conv, m.seq).catch(this.#fail('Could not delete')),
      react: (m, emoji, add) => void this.#c.react(conv, m.seq, emoji, add).catch(this.#fail('Could not react')),
    };
  }

  #sigOf(conv: number, m: Msg): string {
    return JSON.stringify([
      m.text,
      m.deleted,
      m.edited,
      [...m.reactions].map(([e, u]) => [e, [...u]]),
      m.replyCount,
      m.sender === this.#s.user.id ? this.#stateOf(conv, m.seq) : '',
      this.#nameOf(m.sender),
      m.replyTo ? [m.replyTo.deleted, m.replyTo.sender === undefined ? '' : this.#nameOf(m.replyTo.sender)] : 0,
      m.attachments.length,
    ]);
  }

  #pendingItems(conv: number, thread: number | undefined): Item[] {
    const items: Item[] = [];
    const queued = this.#c.queued;
    for (const e of queued) this.#known.set(e.client_msg_id, e);
    const pick = (e: OutboxEntry) => e.conv === conv && e.thread === thread;
    for (const e of queued.filter(pick)) {
      items.push({
        key: `p:${e.client_msg_id}`,
        sig: 'pending',
        make: () => renderPending(e, { me: this.#s.user.id, nameOf: this.#nameOf }),
      });
    }
    for (const [cmid, f] of this.#failed) {
      if (!pick(f.entry)) continue;
      items.push({
        key: `p:${cmid}`,
        sig: `failed:${f.error}`,
        make: () => renderPending(f.entry, { me: this.#s.user.id, nameOf: this.#nameOf, failed: f.error }),
      });
    }
    return items;
  }

  #renderCurrent(o: { toBottom?: boolean; keepBottom?: boolean } = {}): void {
    const conv = this.#current;
    if (conv === null) return;
    const model = this.#models.get(conv);
    const tl = byId('timeline');
    const fromBottom = tl.scrollHeight - tl.scrollTop - tl.clientHeight;
    const atBottom = fromBottom < 60;
    const cx = this.#context(conv, false);
    const msgs = model ? [...model.timeline.values()].sort((a, b) => a.seq - b.seq) : [];
    const items: Item[] = msgs.map((m) => ({ key: `m:${m.seq}`, sig: this.#sigOf(conv, m), make: () => renderMessage(m, cx) }));
    items.push(...this.#pendingItems(conv, undefined));
    reconcile(byId('messages'), items);
    byId('load-older').hidden = !model?.hasMore;
    if (o.toBottom || (atBottom && !o.keepBottom)) tl.scrollTop = tl.scrollHeight;
    else if (o.keepBottom) tl.scrollTop = tl.scrollHeight - tl.clientHeight - fromBottom;
    if (this.#threadRoot !== null) this.#renderThread();
    this.#markRead();
  }

  #renderTyping(): void {
    const conv = this.#current;
    const users = conv === null ? [] : this.#c.typingIn(conv).filter((u) => u !== this.#s.user.id);
    const names = users.map(this.#nameOf);
    byId('typing').textContent = names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
  }

  #markRead(): void {
    const conv = this.#current;
    if (conv === null || document.visibilityState !== 'visible' || this.conn.offline) return;
    const model = this.#models.get(conv);
    if (!model?.loaded) return;
    const info = this.#convs().find((c) => c.id === conv);
    const last = info?.last_seq ?? 0;
    const key = `${conv}:0`;
    if (last > 0 && (info?.read_seq ?? 0) < last && (this.#marking.get(key) ?? 0) < last) {
      this.#marking.set(key, last);
      this.#c.markRead(conv, last).catch(() => this.#marking.delete(key));
    }
    const root = this.#threadRoot;
    const replies = root === null ? undefined : model.threadReplies.get(root);
    if (root !== null && replies && replies.size > 0) {
      const lastReply = Math.max(...replies.keys());
      const tkey = `${conv}:${root}`;
      if ((this.#marking.get(tkey) ?? 0) < lastReply) {
        this.#marking.set(tkey, lastReply);
        this.#c.markRead(conv, lastReply, root).catch(() => this.#marking.delete(tkey));
      }
    }
  }

  // ----- events ---------------------------------------------------------------------------

  #onEvent(e: ParleyEvent): void {
    const d = e.data;
    if (e.type === 'conversation.created' && Array.isArray(d.members)) this.#learnMembers(e.conv, d.members);
    if ((e.type === 'member.joined' || e.type === 'member.left') && d.user) {
      this.#users.set(d.user.id, d.user.handle);
      this.#members.delete(e.conv);
      this.#ensureMembers(e.conv);
    }
    if (e.type === 'conversation.updated') this.#c.refreshConversations().catch(() => {});
    const buffered = this.#loading.get(e.conv);
    if (buffered) {
      buffered.push(e);
      return;
    }
    const model = this.#models.get(e.conv);
    if (!model) return;
    model.apply(e);
    if (e.conv === this.#current) this.#renderCurrent();
  }

  #onAck(cmid: string, conv: number, seq: number, ts: number): void {
    // The acknowledged message takes the pending one's place at once (its event may come
    // a moment later; the model ignores it then).
    const e = this.#known.get(cmid);
    const model = this.#models.get(conv);
    if (e && model?.loaded) {
      model.apply({
        conv,
        seq,
        ts,
        id: '',
        type: 'message.created',
        sender: this.#s.user.id,
        client_msg_id: cmid,
        data: {
          text: e.text,
          ...(e.reply_to !== undefined ? { reply_to: e.reply_to } : {}),
          ...(e.thread !== undefined ? { thread: e.thread } : {}),
        },
      });
    }
    this.#known.delete(cmid);
    if (conv === this.#current) this.#renderCurrent();
  }

  #onSendFailed(cmid: string, error: ParleyError): void {
    const e = this.#known.get(cmid);
    if (e) this.#failed.set(cmid, { entry: e, error: `Not sent: ${error.message}` });
    this.#renderCurrent();
  }

  // ----- composing ------------------------------------------------------------------------

  #typed(): void {
    const conv = this.#current;
    if (conv === null || this.#editing) return;
    const now = Date.now();
    if (now - this.#lastTyping < 3000 || this.#c.state !== 'online') return;
    this.#lastTyping = now;
    this.#c.typing(conv, true).catch(() => {});
  }

  #setContext(text: string | null): void {
    byId('composer-context').hidden = text === null;
    byId('composer-context-text').textContent = text ?? '';
  }

  #cancelContext(): void {
    if (this.#editing) byId<HTMLTextAreaElement>('message-input').value = '';
    this.#replyTo = null;
    this.#editing = null;
    this.#setContext(null);
  }

  #startReply(m: Msg): void {
    this.#editing = null;
    this.#replyTo = m;
    this.#setContext(`Replying to ${this.#nameOf(m.sender)}: ${m.text.slice(0, 80)}`);
    byId('message-input').focus();
  }

  #startEdit(m: Msg): void {
    this.#replyTo = null;
    this.#editing = m;
    this.#setContext('Editing your message');
    const input = byId<HTMLTextAreaElement>('message-input');
    input.value = m.text;
    input.focus();
  }

  async #submit(): Promise<void> {
    const conv = this.#current;
    const input = byId<HTMLTextAreaElement>('message-input');
    const text = input.value;
    if (conv === null) return;
    if (this.#editing) {
      const m = this.#editing;
      if (text.trim() === '') return;
      this.#cancelContext();
      input.value = '';
      await this.#c.edit(conv, m.seq, text).catch(this.#fail('Could not edit'));
      return;
    }
    if (text.trim() === '' && this.#files.length === 0) return;
    const opts = {
      ...(this.#replyTo ? { replyTo: this.#replyTo.seq } : {}),
      ...(this.#files.length > 0 ? { attachments: this.#files } : {}),
    };
    input.value = '';
    this.#files = [];
    this.#renderFiles();
    this.#cancelContext();
    if (this.#lastTyping > 0) {
      this.#lastTyping = 0;
      if (this.#c.state === 'online') this.#c.typing(conv, false).catch(() => {});
    }
    try {
      await this.conn.send(conv, text, opts);
    } catch (e) {
      input.value = text;
      this.#fail('Could not queue the message')(e);
    }
    this.#renderCurrent({ toBottom: true });
  }

  async #attach(el: HTMLInputElement): Promise<void> {
    const files = Array.from(el.files ?? []);
    el.value = '';
    for (const f of files) {
      try {
        const up = await this.#c.upload(f);
        this.#files.push({ id: up.id, name: safeFileName(f.name) });
        this.#renderFiles();
      } catch (e) {
        this.#fail(`Could not upload ${safeFileName(f.name)}`)(e);
      }
    }
  }

  #renderFiles(): void {
    const ul = byId('pending-files');
    clear(ul);
    for (const f of this.#files) {
      const b = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Remove ${f.name ?? 'file'}` }, '×');
      b.addEventListener('click', () => {
        this.#files = this.#files.filter((x) => x !== f);
        this.#renderFiles();
      });
      ul.append(h('li', {}, h('span', { class: 'file-name' }, f.name ?? 'file'), ' ', b));
    }
  }

  // ----- thread and search panel ----------------------------------------------------------

  #openPanel(title: string, thread: boolean): void {
    byId('side-title').textContent = title;
    byId('side-panel').hidden = false;
    byId('thread-composer').hidden = !thread;
    clear(byId('side-list'));
  }

  #closePanel(): void {
    const root = this.#threadRoot;
    byId('side-panel').hidden = true;
    this.#threadRoot = null;
    const back = root !== null ? document.querySelector<HTMLElement>(`#messages [data-seq="${root}"] .thread-button`) : null;
    (back ?? byId('message-input')).focus();
  }

  async #openThread(root: number): Promise<void> {
    const conv = this.#current;
    if (conv === null) return;
    this.#threadRoot = root;
    this.#openPanel('Thread', true);
    try {
      const r = await this.#c.thread(conv, root, { limit: 200 });
      this.#models.get(conv)?.setThread(r.root, r.replies);
    } catch (e) {
      this.#fail('Could not load the thread')(e);
    }
    if (this.#threadRoot !== root) return;
    this.#renderThread();
    byId('thread-input').focus();
  }

  #renderThread(): void {
    const conv = this.#current;
    const root = this.#threadRoot;
    const model = conv === null ? undefined : this.#models.get(conv);
    if (conv === null || root === null || !model) return;
    const cx = this.#context(conv, true);
    const items: Item[] = [];
    const rootMsg = model.timeline.get(root);
    if (rootMsg) items.push({ key: `m:${root}`, sig: this.#sigOf(conv, rootMsg), make: () => renderMessage(rootMsg, cx) });
    const replies = [...(model.threadReplies.get(root)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
    for (const m of replies) items.push({ key: `m:${m.seq}`, sig: this.#sigOf(conv, m), make: () => renderMessage(m, cx) });
    items.push(...this.#pendingItems(conv, root));
    reconcile(byId('side-list'), items);
  }

  async #submitThread(): Promise<void> {
    const conv = this.#current;
    const root = this.#threadRoot;
    const input = byId<HTMLTextAreaElement>('thread-input');
    const text = input.value;
    if (conv === null || root === null || text.trim() === '') return;
    input.value = '';
    try {
      await this.conn.send(conv, text, { thread: root });
    } catch (e) {
      input.value = text;
      this.#fail('Could not queue the reply')(e);
    }
    this.#renderThread();
  }

  async #search(): Promise<void> {
    const query = byId<HTMLInputElement>('search-input').value.trim();
    if (query === '') return;
    this.#threadRoot = null;
    this.#openPanel(`Search: ${query}`, false);
    let results: SearchResult[] = [];
    try {
      results = (await this.#c.search({ query, limit: 50 })).results;
    } catch (e) {
      this.#fail('Search failed')(e);
      return;
    }
    const list = byId('side-list');
    clear(list);
    if (results.length === 0) list.append(h('li', { class: 'msg' }, 'No messages found.'));
    for (const r of results) {
      const conv = this.#convs().find((c) => c.id === r.conv);
      const snippet = h('p', { class: 'msg-text snippet' });
      for (const s of r.snippet) snippet.append(s.hit ? h('mark', {}, s.text) : s.text);
      const open = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Open the conversation of this result` }, 'Open');
      open.addEventListener('click', () => {
        void this.open(r.conv).then(() => (r.thread !== undefined ? this.#openThread(r.thread) : undefined));
      });
      list.append(
        h(
          'li',
          { class: 'msg search-result', 'data-conv': r.conv, 'data-seq': r.seq },
          h('div', { class: 'msg-head' }, h('span', { class: 'msg-sender' }, this.#nameOf(r.sender)), h('span', {}, `in ${conv ? this.#titleOf(conv) : `conversation ${r.conv}`}`), h('time', {}, timeOf(r.ts))),
          snippet,
          open,
        ),
      );
    }
  }

  // ----- new conversations ----------------------------------------------------------------

  #openDialog(mode: 'direct' | 'group'): void {
    this.#dialogMode = mode;
    byId('new-conv-title').textContent = mode === 'direct' ? 'New direct conversation' : 'New group';
    byId('group-title-row').hidden = mode !== 'group';
    byId('new-conv-handles-label').textContent = mode === 'direct' ? 'Handle' : 'Members (handles, separated by commas)';
    byId<HTMLInputElement>('new-conv-handles').value = '';
    byId<HTMLInputElement>('new-conv-group-title').value = '';
    byId('new-conv-error').textContent = '';
    byId<HTMLDialogElement>('new-conv-dialog').showModal();
    byId(mode === 'group' ? 'new-conv-group-title' : 'new-conv-handles').focus();
  }

  async #createConversation(): Promise<void> {
    const handles = byId<HTMLInputElement>('new-conv-handles')
      .value.split(/[\s,]+/)
      .map((x) => x.trim().toLowerCase())
      .filter((x) => x !== '');
    try {
      let conv: Conversation;
      if (this.#dialogMode === 'direct') {
        if (handles.length !== 1) throw new Error('Enter one handle.');
        conv = await this.#c.createDirect(handles[0] as string);
      } else {
        conv = await this.#c.createGroup(byId<HTMLInputElement>('new-conv-group-title').value, handles);
      }
      if (conv.members) this.#learnMembers(conv.id, conv.members);
      byId<HTMLDialogElement>('new-conv-dialog').close();
      await this.#c.refreshConversations().catch(() => {});
      await this.open(conv.id);
    } catch (e) {
      byId('new-conv-error').textContent = (e as Error).message;
    }
  }
}
