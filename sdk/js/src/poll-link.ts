// The long-polling link: GET /v1/poll?cursor=C&timeout_ms=W in a loop (with state=1 on the
// first, for the current receipts, typing and presence), requests over POST /v1/rpc.
// Online at the first answer. Each poll waits at most W (below the heartbeat timeout), and
// a poll unanswered for W + requestTimeoutMs closes the link.
import { cursorOf, type Since } from './cursor.js';
import type { Link, LinkClosed, LinkContext, LinkEvents } from './link.js';
import { RpcQueue } from './rpc.js';

export class PollLink implements Link {
  readonly transport = 'long_polling' as const;
  #abort = new AbortController();
  #rpc: RpcQueue;
  #done = false;
  #synced = false;

  constructor(private readonly ctx: LinkContext, private readonly ev: LinkEvents) {
    this.#rpc = new RpcQueue(ctx, (t) => this.#deliver(t), (c) => this.#fail(c));
  }

  start(since: Since): void {
    void this.#run(cursorOf(since));
  }

  #deliver(text: string): void {
    if (!this.#done) this.ev.message(text);
  }

  async #run(cursor: string): Promise<void> {
    const wait = Math.max(0, Math.min(25_000, this.ctx.heartbeatTimeoutMs - 5_000));
    let first = true;
    let reached = false;
    while (!this.#done) {
      const url = `${this.ctx.baseUrl}/v1/poll?cursor=${encodeURIComponent(cursor)}&timeout_ms=${first ? 0 : wait}` +
        (first ? '&state=1' : '');
      const limit = (first ? this.ctx.handshakeTimeoutMs : wait + this.ctx.requestTimeoutMs);
      const timer = setTimeout(() => this.#fail({ why: 'a poll went unanswered', code: 0, auth: false, reached }), limit);
      let body: { frames?: unknown; cursor?: unknown };
      try {
        const res = await this.ctx.fetch(url, {
          headers: { authorization: `Bearer ${this.ctx.token()}` },
          signal: this.#abort.signal,
        });
        reached = true;
        const text = await res.text();
        if (this.#done) return;
        if (res.status !== 200) {
          return this.#fail({ why: `poll: HTTP ${res.status} ${text}`, code: res.status, auth: res.status === 401, reached: true });
        }
        body = JSON.parse(text) as { frames?: unknown; cursor?: unknown };
      } catch (err) {
        return this.#fail({ why: `poll: ${String(err)}`, code: 0, auth: false, reached });
      } finally {
        clearTimeout(timer);
      }
      if (!Array.isArray(body.frames) || typeof body.cursor !== 'string') {
        return this.#fail({ why: 'a poll answer that is not {frames, cursor}', code: 200, auth: false, reached: true });
      }
      cursor = body.cursor;
      if (body.frames.length > 0) {
        this.#deliver(body.frames.map((f) => (typeof f === 'string' ? f : JSON.stringify(f))).join('\n'));
      }
      if (first && !this.#done) {
        first = false;
        this.#synced = true;
        this.ev.synced();
      }
    }
  }

  request(frame: string): void {
    this.#rpc.push(frame);
  }

  #fail(c: Omit<LinkClosed, 'synced'>): void {
    if (this.#done) return;
    this.close();
    this.ev.closed({ ...c, synced: this.#synced });
  }

  close(): void {
    this.#done = true;
    this.#abort.abort();
    this.#rpc.close();
  }
}
