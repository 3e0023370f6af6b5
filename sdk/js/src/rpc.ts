// Requests for the HTTP transports: POST /v1/rpc, one at a time in the order given (so the
// server commits sends in the order they were made). Each reply body is handed to
// `message` like a WebSocket message. A refused body (HTTP 400/413 with no id) is turned
// into an error reply for the request's id, so its caller hears of it.
import type { LinkClosed, LinkContext } from './link.js';

export class RpcQueue {
  #queue: string[] = [];
  #busy = false;
  #done = false;
  #abort = new AbortController();

  constructor(
    private readonly ctx: LinkContext,
    private readonly message: (text: string) => void,
    private readonly fail: (c: Omit<LinkClosed, 'synced'>) => void,
  ) {}

  push(frame: string): void {
    if (this.#done) return;
    this.#queue.push(frame);
    if (!this.#busy) void this.#run();
  }

  async #run(): Promise<void> {
    this.#busy = true;
    while (!this.#done && this.#queue.length > 0) {
      const frame = this.#queue.shift() as string;
      const timer = setTimeout(() => this.#abort.abort(), this.ctx.requestTimeoutMs);
      try {
        const res = await this.ctx.fetch(`${this.ctx.baseUrl}/v1/rpc`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.ctx.token()}`, 'content-type': 'application/json' },
          body: frame,
          signal: this.#abort.signal,
        });
        const text = await res.text();
        if (this.#done) return;
        if (res.status === 401) {
          return this.fail({ why: 'rpc: the token was rejected', code: 401, auth: true, reached: true });
        }
        if (res.status === 200) {
          this.message(text);
        } else {
          let id: unknown = null;
          try {
            id = (JSON.parse(frame) as { id?: unknown }).id ?? null;
          } catch {
            // not ours to repair
          }
          let error: unknown = { code: 'internal', message: `HTTP ${res.status}` };
          try {
            error = (JSON.parse(text) as { error?: unknown }).error ?? error;
          } catch {
            // keep the generic error
          }
          this.message(JSON.stringify({ id, error }));
        }
      } catch (err) {
        if (this.#done) return;
        return this.fail({ why: `rpc failed: ${String(err)}`, code: 0, auth: false, reached: false });
      } finally {
        clearTimeout(timer);
      }
    }
    this.#busy = false;
  }

  close(): void {
    this.#done = true;
    this.#queue = [];
    this.#abort.abort();
  }
}
