// The conversation list with unread and mention counts, kept current for a UI: loaded with
// conv.list after every (re)connect, then moved by events (last_seq; unread and mentions
// for others' messages after the read position) and by `read` notices from any of the
// user's devices (docs/protocol.md, "Unread and mentions").
//
// Contract: `changed()` runs (at most once per microtask) when the list changed. An event
// at or below a conversation's known last_seq was already counted by the last load and
// changes nothing. needsReload() says an event named a conversation not in the list (a
// new one): the client then loads the list again.
import type { Conversation, ParleyEvent } from './types.js';

export class Conversations {
  #convs = new Map<number, Conversation>();
  #queued = false;
  #reload = false;

  constructor(private readonly changed: (list: Conversation[]) => void) {}

  list(): Conversation[] {
    return [...this.#convs.values()].sort((a, b) => b.last_seq - a.last_seq || b.id - a.id);
  }

  get(id: number): Conversation | undefined {
    return this.#convs.get(id);
  }

  needsReload(): boolean {
    const r = this.#reload;
    this.#reload = false;
    return r;
  }

  /** A conv.list result replaces the list. */
  load(list: Conversation[]): void {
    this.#convs = new Map(list.map((c) => [c.id, { ...c }]));
    this.#notify();
  }

  /** One conversation object (conv.get, conv.create, ...) replaces or adds that entry. */
  put(c: Conversation): void {
    const old = this.#convs.get(c.id);
    this.#convs.set(c.id, { ...old, ...c, last_seq: Math.max(c.last_seq ?? 0, old?.last_seq ?? 0) });
    this.#notify();
  }

  onEvent(e: ParleyEvent, self: number | undefined): void {
    const c = this.#convs.get(e.conv);
    if (!c) {
      this.#reload = true;
      return;
    }
    if (e.seq <= c.last_seq) return;
    c.last_seq = e.seq;
    const d = e.data;
    if (e.type === 'message.created' && e.sender !== self && !d.thread && !d.deleted && e.seq > (c.read_seq ?? 0)) {
      c.unread = Math.min(1000, (c.unread ?? 0) + 1);
      if (self !== undefined && d.mentions?.includes(self)) c.mentions = Math.min(1000, (c.mentions ?? 0) + 1);
    }
    if (e.type === 'conversation.updated' && typeof d.title === 'string') c.title = d.title;
    if ((e.type === 'member.left' || e.type === 'member.updated') && d.user?.id === self) this.#reload = true;
    this.#notify();
  }

  /** A `read` notice (thread 0: the conversation itself). */
  onRead(conv: number, seq: number, unread: number, mentions: number): void {
    const c = this.#convs.get(conv);
    if (!c) return;
    c.read_seq = Math.max(c.read_seq ?? 0, seq);
    c.unread = unread;
    c.mentions = mentions;
    this.#notify();
  }

  #notify(): void {
    if (this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => {
      this.#queued = false;
      this.changed(this.list());
    });
  }
}
