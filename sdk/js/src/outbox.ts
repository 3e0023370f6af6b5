// The outbox: messages queued by send(), oldest first, mirrored in the storage until the
// server acknowledges them (docs/sdk.md, "Outbox"). A client_msg_id is the storage's
// random device prefix, ':', the time in base 36 and 8 random hex digits, so two pages
// sharing one IndexedDB database never mint the same id.
//
// Contract: add() resolves once the entry is durable, and only then is it visible to
// entries() (so nothing is transmitted before it would survive a reload).
import type { OutboxEntry, ParleyStorage } from './storage.js';
import type { AttachmentRef } from './types.js';

export interface SendOptions {
  /** Quote this message (its seq) of the same conversation. */
  replyTo?: number;
  /** Reply in the thread of this message (its seq). */
  thread?: number;
  /** Uploads to attach (see ParleyClient.upload). */
  attachments?: AttachmentRef[];
}

function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

export class Outbox {
  #entries: OutboxEntry[];
  #order: number;

  private constructor(private readonly storage: ParleyStorage, readonly device: string, entries: OutboxEntry[]) {
    this.#entries = entries;
    this.#order = entries.reduce((m, e) => Math.max(m, e.order), 0);
  }

  /** Builds the outbox from what the storage holds (creating the device prefix once). */
  static async open(storage: ParleyStorage, stored: { outbox: OutboxEntry[]; device: string | null }): Promise<Outbox> {
    let device = stored.device;
    if (!device) {
      device = randomHex(8);
      await storage.setDevice(device);
    }
    return new Outbox(storage, device, stored.outbox);
  }

  entries(): readonly OutboxEntry[] {
    return this.#entries;
  }

  get size(): number {
    return this.#entries.length;
  }

  has(clientMsgId: string): boolean {
    return this.#entries.some((e) => e.client_msg_id === clientMsgId);
  }

  async add(conv: number, text: string, o: SendOptions = {}): Promise<OutboxEntry> {
    const e: OutboxEntry = {
      client_msg_id: `${this.device}:${Date.now().toString(36)}.${randomHex(4)}`,
      conv,
      text,
      order: ++this.#order,
      created_ms: Date.now(),
    };
    if (o.replyTo) e.reply_to = o.replyTo;
    if (o.thread) e.thread = o.thread;
    if (o.attachments && o.attachments.length > 0) e.attachments = o.attachments.map((a) => ({ ...a }));
    await this.storage.addOutbox(e);
    this.#entries.push(e);
    this.#entries.sort((a, b) => a.order - b.order);
    return e;
  }

  /** Removes an acknowledged or rejected entry; false if it was not (or no longer) here. */
  async remove(clientMsgId: string): Promise<boolean> {
    const i = this.#entries.findIndex((e) => e.client_msg_id === clientMsgId);
    if (i < 0) return false;
    this.#entries.splice(i, 1);
    await this.storage.removeOutbox(clientMsgId);
    return true;
  }
}

/** The `send` request for an entry. */
export function sendRequest(e: OutboxEntry): Record<string, unknown> {
  const r: Record<string, unknown> = { op: 'send', conv: e.conv, client_msg_id: e.client_msg_id, text: e.text };
  if (e.reply_to) r.reply_to = e.reply_to;
  if (e.thread) r.thread = e.thread;
  if (e.attachments) r.attachments = e.attachments;
  return r;
}
