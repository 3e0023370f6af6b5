// The local store behind the outbox and the inbox positions. The client reads it once at
// start (load) and writes through it; MemoryStorage keeps nothing across processes,
// IndexedDbStorage (indexeddb.ts) survives a page reload.
//
// Contract: every write resolves only once it is durable for that storage (for IndexedDB:
// the transaction completed), so a message whose `send()` resolved is sent by the next
// client on the same storage if this one dies. Writes are applied in call order.
import type { AttachmentRef } from './types.js';

/** A queued message, as stored until the server acknowledges it. */
export interface OutboxEntry {
  client_msg_id: string;
  conv: number;
  text: string;
  reply_to?: number;
  thread?: number;
  attachments?: AttachmentRef[];
  /** Orders the outbox (oldest first); unique within one storage. */
  order: number;
  created_ms: number;
}

export interface StoredState {
  outbox: OutboxEntry[];
  positions: Map<number, number>;
  /** The random device prefix of client_msg_ids; null until first set. */
  device: string | null;
}

export interface ParleyStorage {
  /** Everything the client needs at start; the outbox sorted by `order`. */
  load(): Promise<StoredState>;
  setDevice(device: string): Promise<void>;
  addOutbox(entry: OutboxEntry): Promise<void>;
  removeOutbox(clientMsgId: string): Promise<void>;
  /** Sets these positions exactly (a position_reset may move one backwards). */
  savePositions(changes: ReadonlyMap<number, number>): Promise<void>;
  /** Releases the storage (a closed storage must not be used again). */
  close(): Promise<void>;
}

/** Keeps everything in memory: for Node processes and tests. Two clients given the same
 *  instance share it, as two page loads share one IndexedDB database. */
export class MemoryStorage implements ParleyStorage {
  #outbox = new Map<string, OutboxEntry>();
  #positions = new Map<number, number>();
  #device: string | null = null;

  async load(): Promise<StoredState> {
    const outbox = [...this.#outbox.values()].map((e) => structuredClone(e)).sort((a, b) => a.order - b.order);
    return { outbox, positions: new Map(this.#positions), device: this.#device };
  }
  async setDevice(device: string): Promise<void> {
    this.#device = device;
  }
  async addOutbox(entry: OutboxEntry): Promise<void> {
    this.#outbox.set(entry.client_msg_id, structuredClone(entry));
  }
  async removeOutbox(clientMsgId: string): Promise<void> {
    this.#outbox.delete(clientMsgId);
  }
  async savePositions(changes: ReadonlyMap<number, number>): Promise<void> {
    for (const [c, s] of changes) this.#positions.set(c, s);
  }
  async close(): Promise<void> {}
}
