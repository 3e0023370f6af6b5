// The inbox core (pure logic, like the C++ SDK's sequencer): per conversation, events
// come out exactly once and in seq order.
//
// Contract: offer(e) returns the events now deliverable, in order. An event at or below the
// conversation's position is a duplicate and dropped; one beyond position + 1 is held (at
// most `maxHeld` per conversation, keeping the lowest seqs) until the gap is filled, and
// gap(conv) tells which seqs are missing. A conversation with no position starts at the
// first event offered for it.
import type { ParleyEvent } from './types.js';

export class Sequencer {
  #pos = new Map<number, number>();
  #held = new Map<number, Map<number, ParleyEvent>>();

  constructor(readonly maxHeld = 10_000) {}

  position(conv: number): number | undefined {
    return this.#pos.get(conv);
  }

  setPosition(conv: number, seq: number): void {
    this.#pos.set(conv, seq);
    const held = this.#held.get(conv);
    if (held) for (const s of [...held.keys()]) if (s <= seq) held.delete(s);
  }

  positions(): ReadonlyMap<number, number> {
    return this.#pos;
  }

  offer(e: ParleyEvent): ParleyEvent[] {
    const out: ParleyEvent[] = [];
    let pos = this.#pos.get(e.conv);
    if (pos === undefined) pos = e.seq - 1;
    if (e.seq <= pos) return out;
    let held = this.#held.get(e.conv);
    if (e.seq === pos + 1) {
      pos = e.seq;
      out.push(e);
      if (held) {
        for (let next = held.get(pos + 1); next; next = held.get(pos + 1)) {
          held.delete(pos + 1);
          pos++;
          out.push(next);
        }
        for (const s of [...held.keys()]) if (s <= pos) held.delete(s);
        if (held.size === 0) this.#held.delete(e.conv);
      }
      this.#pos.set(e.conv, pos);
      return out;
    }
    if (!this.#pos.has(e.conv)) this.#pos.set(e.conv, pos);
    if (!held) this.#held.set(e.conv, (held = new Map()));
    if (held.has(e.seq)) return out;
    if (held.size >= this.maxHeld) {
      const highest = Math.max(...held.keys());
      if (e.seq > highest) return out;
      held.delete(highest);
    }
    held.set(e.seq, e);
    return out;
  }

  /** The missing range [after + 1, upTo] before the lowest held event, if any. */
  gap(conv: number): { after: number; upTo: number } | undefined {
    const held = this.#held.get(conv);
    if (!held || held.size === 0) return undefined;
    return { after: this.#pos.get(conv) ?? 0, upTo: Math.min(...held.keys()) - 1 };
  }

  /** Conversations with held events. */
  gaps(): number[] {
    return [...this.#held.keys()];
  }

  held(): number {
    let n = 0;
    for (const h of this.#held.values()) n += h.size;
    return n;
  }
}
