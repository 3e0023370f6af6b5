// The app's state of the conversations it has opened: messages by seq in their current
// state (loaded with `messages` / `thread`, then kept current from live events), and the
// users it knows by id. Pure data: no DOM, no network.
import type { Attachment, MessageView, ParleyEvent } from '../../sdk/js/src/index.js';

export interface Msg {
  seq: number;
  sender: number;
  ts: number;
  text: string;
  edited: boolean;
  deleted: boolean;
  replyTo?: { seq: number; sender?: number; text?: string; deleted?: boolean };
  thread?: number;
  mentions: number[];
  reactions: Map<string, Set<number>>;
  replies: Set<number>; // seqs of thread replies seen (with `replyCount` from the view)
  replyCount: number;
  attachments: Attachment[];
}

export function fromView(v: MessageView): Msg {
  const reactions = new Map<string, Set<number>>();
  for (const r of v.reactions ?? []) reactions.set(r.emoji, new Set(r.users));
  return {
    seq: v.seq,
    sender: v.sender,
    ts: v.ts,
    text: v.text ?? '',
    edited: v.edited_ts !== undefined,
    deleted: v.deleted === true,
    ...(v.reply_to ? { replyTo: v.reply_to } : {}),
    ...(v.thread !== undefined ? { thread: v.thread } : {}),
    mentions: v.mentions ?? [],
    reactions,
    replies: new Set(),
    replyCount: v.replies?.count ?? 0,
    attachments: v.attachments ?? [],
  };
}

function fromEvent(e: ParleyEvent, quoted: Msg | undefined): Msg {
  const d = e.data;
  const m: Msg = {
    seq: e.seq,
    sender: e.sender,
    ts: e.ts,
    text: typeof d.text === 'string' ? d.text : '',
    edited: false,
    deleted: d.deleted === true,
    mentions: Array.isArray(d.mentions) ? d.mentions : [],
    reactions: new Map(),
    replies: new Set(),
    replyCount: 0,
    attachments: Array.isArray(d.attachments) ? d.attachments : [],
  };
  if (typeof d.reply_to === 'number') {
    m.replyTo = quoted
      ? { seq: quoted.seq, sender: quoted.sender, text: quoted.text.slice(0, 200), deleted: quoted.deleted }
      : { seq: d.reply_to };
  }
  if (typeof d.thread === 'number') m.thread = d.thread;
  return m;
}

/** One opened conversation: its timeline (thread replies excluded) and the threads
 *  loaded in it, each by seq. */
export class ConvModel {
  readonly timeline = new Map<number, Msg>();
  readonly threadReplies = new Map<number, Map<number, Msg>>(); // root -> replies
  hasMore = true;
  loaded = false;

  /** The smallest timeline seq (the `before` of the next older page). */
  oldest(): number | undefined {
    let min: number | undefined;
    for (const s of this.timeline.keys()) if (min === undefined || s < min) min = s;
    return min;
  }

  find(seq: number): Msg | undefined {
    const t = this.timeline.get(seq);
    if (t) return t;
    for (const replies of this.threadReplies.values()) {
      const r = replies.get(seq);
      if (r) return r;
    }
    return undefined;
  }

  addPage(views: MessageView[]): void {
    for (const v of views) this.timeline.set(v.seq, fromView(v));
  }

  setThread(root: MessageView, replies: MessageView[]): void {
    this.timeline.set(root.seq, fromView(root));
    const map = new Map<number, Msg>();
    for (const r of replies) map.set(r.seq, fromView(r));
    this.threadReplies.set(root.seq, map);
  }

  /** Applies a live event; returns the seqs of the messages it changed (the new one, the
   *  one edited / deleted / reacted to, or a thread's root). */
  apply(e: ParleyEvent): number[] {
    const d = e.data;
    switch (e.type) {
      case 'message.created': {
        const quoted = typeof d.reply_to === 'number' ? this.find(d.reply_to) : undefined;
        const m = fromEvent(e, quoted);
        if (m.thread !== undefined) {
          this.threadReplies.get(m.thread)?.set(m.seq, m);
          const root = this.timeline.get(m.thread);
          if (root && !root.replies.has(m.seq)) {
            root.replies.add(m.seq);
            root.replyCount += 1;
          }
          return [m.seq, m.thread];
        }
        if (this.timeline.has(m.seq)) return [];
        this.timeline.set(m.seq, m);
        return [m.seq];
      }
      case 'message.edited': {
        const m = typeof d.msg === 'number' ? this.find(d.msg) : undefined;
        if (!m) return [];
        if (d.deleted === true) {
          m.deleted = true;
          m.text = '';
        } else if (typeof d.text === 'string') {
          m.text = d.text;
          m.edited = true;
          m.mentions = Array.isArray(d.mentions) ? d.mentions : [];
        }
        return [m.seq];
      }
      case 'message.deleted': {
        const m = typeof d.msg === 'number' ? this.find(d.msg) : undefined;
        if (!m) return [];
        m.deleted = true;
        m.text = '';
        m.reactions.clear();
        m.attachments = [];
        if (m.thread !== undefined) {
          const root = this.timeline.get(m.thread);
          if (root && root.replyCount > 0) root.replyCount -= 1;
          return [m.seq, m.thread];
        }
        return [m.seq];
      }
      case 'reaction.added':
      case 'reaction.removed': {
        const m = typeof d.msg === 'number' ? this.find(d.msg) : undefined;
        if (!m || typeof d.emoji !== 'string') return [];
        let users = m.reactions.get(d.emoji);
        if (e.type === 'reaction.added') {
          if (!users) m.reactions.set(d.emoji, (users = new Set()));
          users.add(e.sender);
        } else if (users) {
          users.delete(e.sender);
          if (users.size === 0) m.reactions.delete(d.emoji);
        }
        return [m.seq];
      }
      default:
        return [];
    }
  }
}
