// The app's ParleyClient and its lifecycle. The client's storage is IndexedDB (one
// database per account and server), so queued messages survive a reload. When the browser
// reports the network gone ('offline'), the connection is closed at once rather than after
// the heartbeat timeout, and messages typed meanwhile stay queued (pending); on 'online'
// a new client on the same storage connects and sends them. Listeners registered with
// on() are attached to every client this makes.
import { IndexedDbStorage, ParleyClient, type ClientEvents } from '../../sdk/js/src/index.js';
import type { Session } from './session.js';

type Handlers = { [K in keyof ClientEvents]?: (v: ClientEvents[K]) => void };

export class Connection {
  client: ParleyClient;
  #handlers: Handlers = {};
  #session: Session;
  #closed = false;
  #offline = () => void this.#goOffline();
  #online = () => void this.#restart();
  #ready: Promise<void> = Promise.resolve();

  constructor(session: Session, handlers: Handlers) {
    this.#session = session;
    this.#handlers = handlers;
    this.client = this.#make();
  }

  async start(): Promise<void> {
    window.addEventListener('offline', this.#offline);
    window.addEventListener('online', this.#online);
    this.#ready = this.client.start();
    await this.#ready;
    if (!navigator.onLine) await this.client.stop();
  }

  /** Queues a message on the current client once it has loaded its storage. */
  async send(...args: Parameters<ParleyClient['send']>): Promise<string> {
    await this.#ready;
    return this.client.send(...args);
  }

  /** Stops for good (logout). */
  async close(): Promise<void> {
    this.#closed = true;
    window.removeEventListener('offline', this.#offline);
    window.removeEventListener('online', this.#online);
    await this.client.stop();
  }

  /** Whether the browser says the network is gone (the client is stopped meanwhile). */
  get offline(): boolean {
    return !navigator.onLine;
  }

  #make(): ParleyClient {
    const c = new ParleyClient({
      server: location.origin,
      token: this.#session.token,
      tokenExpiresMs: this.#session.expiresMs,
      userId: this.#session.user.id,
      storage: new IndexedDbStorage(`parley:${this.#session.user.handle}@${location.host}`),
    });
    for (const [name, fn] of Object.entries(this.#handlers)) {
      c.on(name as keyof ClientEvents, ((v: unknown) => {
        if (this.client === c) (fn as (v: unknown) => void)(v);
      }) as never);
    }
    return c;
  }

  async #goOffline(): Promise<void> {
    // The stopped client still queues sends into the storage (its outbox stays loaded).
    await this.client.stop();
    this.#handlers.state?.('offline');
  }

  async #restart(): Promise<void> {
    if (this.#closed) return;
    const old = this.client;
    await old.stop();
    if (this.#closed || this.client !== old) return;
    this.client = this.#make();
    this.#ready = this.client.start();
    await this.#ready;
    this.#handlers.outbox?.(this.client.outboxSize);
  }
}
