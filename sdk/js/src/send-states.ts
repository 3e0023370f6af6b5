// Send states of the user's own messages, derived from the outbox, acknowledgements and
// receipts notices (docs/protocol.md, "Receipts"):
//   pending   queued in the outbox, not yet acknowledged
//   sent      acknowledged: durably stored on the server, with a seq
//   delivered another member's delivered position reached its seq
//   read      another member's read position reached its seq
//   failed    rejected for good (the outbox dropped it)
// States only move forward. Receipts also keep per-member positions for a UI that shows
// who got or read a message (deliveredTo / readBy).
//
// Contract: positions of the user's own id never count; until that id is known (auth
// reply, options.userId or an own message event) receipts are kept and states are
// promoted once it is.

export type SendState = 'pending' | 'sent' | 'delivered' | 'read' | 'failed';

export interface MessageStateChange {
  clientMsgId: string;
  conv: number;
  seq?: number;
  state: SendState;
}

const RANK: Record<SendState, number> = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

interface Tracked {
  conv: number;
  seq?: number;
  state: SendState;
}

export class SendStates {
  #msgs = new Map<string, Tracked>();
  #delivered = new Map<number, Map<number, number>>(); // conv -> user -> seq
  #read = new Map<number, Map<number, number>>();
  #self: number | undefined;

  constructor(private readonly changed: (c: MessageStateChange) => void, readonly maxTracked = 5000) {}

  get self(): number | undefined {
    return this.#self;
  }

  setSelf(id: number): void {
    if (this.#self === id) return;
    this.#self = id;
    for (const conv of new Set([...this.#msgs.values()].map((m) => m.conv))) this.#promote(conv);
  }

  get(clientMsgId: string): SendState | undefined {
    return this.#msgs.get(clientMsgId)?.state;
  }

  pending(clientMsgId: string, conv: number): void {
    this.#set(clientMsgId, { conv, state: 'pending' });
  }

  sent(clientMsgId: string, conv: number, seq: number): void {
    const t = this.#msgs.get(clientMsgId);
    if (t && RANK[t.state] >= RANK.sent) return;
    this.#set(clientMsgId, { conv, seq, state: 'sent' });
    this.#promote(conv);
  }

  failed(clientMsgId: string, conv: number): void {
    this.#set(clientMsgId, { conv, state: 'failed' });
  }

  /** A receipts notice: positions by user id (as strings or numbers). */
  receipts(conv: number, delivered: Record<string, number>, read: Record<string, number>): void {
    const merge = (into: Map<number, Map<number, number>>, from: Record<string, number>) => {
      let m = into.get(conv);
      if (!m) into.set(conv, (m = new Map()));
      for (const [u, s] of Object.entries(from)) {
        const user = Number(u);
        if (typeof s === 'number' && s > (m.get(user) ?? 0)) m.set(user, s);
      }
    };
    merge(this.#delivered, delivered);
    merge(this.#read, read);
    // What is read was delivered.
    for (const [u, s] of this.#read.get(conv) ?? []) {
      const d = this.#delivered.get(conv) as Map<number, number>;
      if (s > (d.get(u) ?? 0)) d.set(u, s);
    }
    this.#promote(conv);
  }

  /** Members (other than the user) whose delivered position reached seq. */
  deliveredTo(conv: number, seq: number): number[] {
    return this.#who(this.#delivered, conv, seq);
  }

  /** Members (other than the user) whose read position reached seq. */
  readBy(conv: number, seq: number): number[] {
    return this.#who(this.#read, conv, seq);
  }

  #who(m: Map<number, Map<number, number>>, conv: number, seq: number): number[] {
    return [...(m.get(conv) ?? [])].filter(([u, s]) => u !== this.#self && s >= seq).map(([u]) => u);
  }

  #furthest(m: Map<number, Map<number, number>>, conv: number): number {
    if (this.#self === undefined) return 0;
    let best = 0;
    for (const [u, s] of m.get(conv) ?? []) if (u !== this.#self && s > best) best = s;
    return best;
  }

  #promote(conv: number): void {
    const d = this.#furthest(this.#delivered, conv);
    const r = this.#furthest(this.#read, conv);
    for (const [id, t] of this.#msgs) {
      if (t.conv !== conv || t.seq === undefined || t.state === 'failed') continue;
      const next: SendState = t.seq <= r ? 'read' : t.seq <= d ? 'delivered' : t.state;
      if (RANK[next] > RANK[t.state]) this.#set(id, { ...t, state: next });
    }
  }

  #set(id: string, t: Tracked): void {
    this.#msgs.delete(id); // re-insert: the map's order is the age order for trimming
    this.#msgs.set(id, t);
    while (this.#msgs.size > this.maxTracked) {
      const oldest = this.#msgs.keys().next().value as string;
      this.#msgs.delete(oldest);
    }
    const c: MessageStateChange = { clientMsgId: id, conv: t.conv, state: t.state };
    if (t.seq !== undefined) c.seq = t.seq;
    this.changed(c);
  }
}
