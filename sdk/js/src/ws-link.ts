// The WebSocket link: GET /v1/ws, then an `auth` frame (browsers cannot set headers on a
// WebSocket), then, once auth is answered, `sync` with the positions; online at the sync
// reply. Keeps the connection checked: a `ping` request after half of heartbeatTimeoutMs
// of silence, and the link closes after all of it. Handshake (open, auth, sync) must finish within
// handshakeTimeoutMs unless events keep arriving (a long replay).
import { sinceObject, type Since } from './cursor.js';
import { reachable, type Link, type LinkClosed, type LinkContext, type LinkEvents } from './link.js';

const AUTH_ID = 'link:auth';
const SYNC_ID = 'link:sync';
const PING_ID = 'link:ping';

export class WsLink implements Link {
  readonly transport = 'websocket' as const;
  #ws: import('./link.js').WebSocketLike | null = null;
  #done = false;
  #opened = false;
  #synced = false;
  #lastRx = Date.now();
  #pinged = false;
  #timer: ReturnType<typeof setInterval> | null = null;
  #handshakeDeadline = 0;
  #since: Since = null;

  constructor(private readonly ctx: LinkContext, private readonly ev: LinkEvents) {}

  start(since: Since): void {
    const Ctor = this.ctx.WebSocket ?? (globalThis as { WebSocket?: import('./link.js').WebSocketConstructor }).WebSocket;
    if (!Ctor) {
      queueMicrotask(() => this.#fail({ why: 'no WebSocket implementation (pass options.WebSocket)', code: 0, auth: false, reached: true }));
      return;
    }
    const url = this.ctx.baseUrl.replace(/^http/, 'ws') + '/v1/ws';
    this.#handshakeDeadline = Date.now() + this.ctx.handshakeTimeoutMs;
    let ws: import('./link.js').WebSocketLike;
    try {
      ws = new Ctor(url);
    } catch (err) {
      queueMicrotask(() => this.#fail({ why: `cannot open a WebSocket: ${String(err)}`, code: 0, auth: false, reached: false }));
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      this.#opened = true;
      this.#lastRx = Date.now();
      // Requests are handled concurrently: sync waits for the auth reply (#own).
      ws.send(JSON.stringify({ id: AUTH_ID, op: 'auth', token: this.ctx.token() }));
    };
    this.#since = since;
    ws.onmessage = (m) => {
      if (this.#done) return;
      this.#lastRx = Date.now();
      this.#pinged = false;
      if (!this.#synced) this.#handshakeDeadline = Date.now() + this.ctx.handshakeTimeoutMs;
      const text = typeof m.data === 'string' ? m.data : String(m.data);
      this.ev.message(text);
      if (!this.#done) this.#own(text);
    };
    ws.onclose = (c) => {
      const why = `WebSocket closed (${c.code}${c.reason ? ' ' + c.reason : ''})`;
      if (this.#opened) return this.#fail({ why, code: c.code, auth: c.code === 4003, reached: true });
      // Never opened: refused on the way (a proxy, 401, 403) or the server is down.
      void reachable(this.ctx).then((r) => this.#fail({ why, code: c.code, auth: false, reached: r }));
    };
    ws.onerror = () => {
      // onclose follows with the details.
    };
    this.#timer = setInterval(() => this.#tick(), Math.max(50, Math.min(1000, this.ctx.heartbeatTimeoutMs / 4)));
  }

  // Replies to the link's own requests.
  #own(text: string): void {
    if (!text.includes('"link:')) return;
    for (const line of text.split('\n')) {
      if (!line.includes('"link:')) continue;
      let o: { id?: unknown; result?: unknown; error?: { code?: string; message?: string } };
      try {
        o = JSON.parse(line);
      } catch {
        continue;
      }
      if (o.id === AUTH_ID) {
        if (o.error) {
          return this.#fail({ why: `auth refused: ${o.error.message ?? ''}`, code: 0,
            auth: o.error.code === 'unauthenticated', reached: true });
        }
        const s = sinceObject(this.#since);
        this.request(JSON.stringify(s === undefined ? { id: SYNC_ID, op: 'sync' } : { id: SYNC_ID, op: 'sync', since: s }));
      }
      if (o.id === SYNC_ID) {
        if (o.error) return this.#fail({ why: `sync refused: ${o.error.message ?? ''}`, code: 0, auth: false, reached: true });
        if (!this.#synced) {
          this.#synced = true;
          this.ev.synced();
        }
      }
    }
  }

  #tick(): void {
    if (this.#done) return;
    const now = Date.now();
    if (!this.#synced && now > this.#handshakeDeadline) {
      return this.#fail({ why: 'handshake timed out', code: 0, auth: false, reached: this.#opened });
    }
    const silent = now - this.#lastRx;
    if (silent >= this.ctx.heartbeatTimeoutMs) {
      return this.#fail({ why: 'heartbeat: the server went silent', code: 0, auth: false, reached: true });
    }
    if (this.#opened && !this.#pinged && silent >= this.ctx.heartbeatTimeoutMs / 2) {
      this.#pinged = true;
      this.request(JSON.stringify({ id: PING_ID, op: 'ping' }));
    }
  }

  request(frame: string): void {
    if (this.#done || !this.#ws || this.#ws.readyState !== 1) return;
    try {
      this.#ws.send(frame);
    } catch {
      // onclose reports it
    }
  }

  #fail(c: Omit<LinkClosed, 'synced'>): void {
    if (this.#done) return;
    this.#teardown();
    this.ev.closed({ ...c, synced: this.#synced });
  }

  #teardown(): void {
    this.#done = true;
    if (this.#timer) clearInterval(this.#timer);
    const ws = this.#ws;
    if (ws) {
      // No-op handlers rather than null: npm `ws` throws on an 'error' without a listener.
      ws.onopen = ws.onmessage = null;
      ws.onerror = () => {};
      ws.onclose = () => {};
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
    }
  }

  close(): void {
    if (!this.#done) this.#teardown();
  }
}
