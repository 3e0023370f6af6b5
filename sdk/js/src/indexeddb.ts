// ParleyStorage on IndexedDB, for browsers: the outbox and the positions survive a page
// reload, so messages queued before it are sent after it, once (their client_msg_ids are
// stored with them and the server stores each id once).
//
// One database per account (the name is the caller's choice, e.g. `parley:ann@host`), with
// three object stores: `outbox` (key client_msg_id), `positions` (key conv) and `meta`
// (key/value: the device prefix). Every write is one readwrite transaction and resolves on
// its `complete` event. `factory` defaults to the global `indexedDB`; tests pass another
// implementation of the same API.
import type { OutboxEntry, ParleyStorage, StoredState } from './storage.js';
import { ParleyError } from './errors.js';

const VERSION = 1;

function promised<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new ParleyError('storage', String(req.error?.message ?? req.error)));
  });
}

function completed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    const fail = () => reject(new ParleyError('storage', String(tx.error?.message ?? 'transaction aborted')));
    tx.onerror = fail;
    tx.onabort = fail;
  });
}

export class IndexedDbStorage implements ParleyStorage {
  #db: Promise<IDBDatabase>;

  constructor(readonly name: string, factory?: IDBFactory) {
    const f = factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!f) throw new ParleyError('storage', 'IndexedDB is not available here');
    this.#db = new Promise((resolve, reject) => {
      const req = f.open(name, VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox', { keyPath: 'client_msg_id' });
        if (!db.objectStoreNames.contains('positions')) db.createObjectStore('positions', { keyPath: 'conv' });
        if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta');
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(new ParleyError('storage', `cannot open ${name}: ${req.error?.message}`));
      req.onblocked = () => reject(new ParleyError('storage', `${name} is blocked by another connection`));
    });
  }

  async #write(stores: string[], fn: (tx: IDBTransaction) => void): Promise<void> {
    const db = await this.#db;
    const tx = db.transaction(stores, 'readwrite');
    const done = completed(tx);
    fn(tx);
    return done;
  }

  async load(): Promise<StoredState> {
    const db = await this.#db;
    const tx = db.transaction(['outbox', 'positions', 'meta'], 'readonly');
    const [outbox, positions, device] = await Promise.all([
      promised(tx.objectStore('outbox').getAll() as IDBRequest<OutboxEntry[]>),
      promised(tx.objectStore('positions').getAll() as IDBRequest<{ conv: number; seq: number }[]>),
      promised(tx.objectStore('meta').get('device') as IDBRequest<string | undefined>),
    ]);
    outbox.sort((a, b) => a.order - b.order);
    return { outbox, positions: new Map(positions.map((p) => [p.conv, p.seq])), device: device ?? null };
  }

  setDevice(device: string): Promise<void> {
    return this.#write(['meta'], (tx) => tx.objectStore('meta').put(device, 'device'));
  }

  addOutbox(entry: OutboxEntry): Promise<void> {
    return this.#write(['outbox'], (tx) => tx.objectStore('outbox').put(entry));
  }

  removeOutbox(clientMsgId: string): Promise<void> {
    return this.#write(['outbox'], (tx) => tx.objectStore('outbox').delete(clientMsgId));
  }

  savePositions(changes: ReadonlyMap<number, number>): Promise<void> {
    if (changes.size === 0) return Promise.resolve();
    const rows = [...changes].map(([conv, seq]) => ({ conv, seq }));
    return this.#write(['positions'], (tx) => {
      const s = tx.objectStore('positions');
      for (const r of rows) s.put(r);
    });
  }

  async close(): Promise<void> {
    (await this.#db).close();
  }
}
