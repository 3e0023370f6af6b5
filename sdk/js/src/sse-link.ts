// The Server-Sent Events link: GET /v1/sse?cursor=C read as a stream with fetch (so the
// Authorization header goes with it in browsers too, which EventSource cannot do), requests
// over POST /v1/rpc. Online at `event: synced`. Before that, the stream must keep
// replaying or say it is live within handshakeTimeoutMs of silence (a buffering proxy
// fails this); after it, silence for heartbeatTimeoutMs closes the link (the server sends
// a keep-alive comment every half of its own heartbeat timeout).
import { cursorOf, type Since } from './cursor.js';
import type { Link, LinkClosed, LinkContext, LinkEvents } from './link.js';
import { RpcQueue } from './rpc.js';

export class SseLink implements Link {
  readonly transport = 'sse' as const;
  #abort = new AbortController();
  #rpc: RpcQueue;
  #done = false;
  #synced = false;
  #reached = false;
  #lastRx = Date.now();
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly ctx: LinkContext, private readonly ev: LinkEvents) {
    this.#rpc = new RpcQueue(ctx, (t) => this.#deliver(t), (c) => this.#fail(c));
  }

  start(since: Since): void {
    this.#timer = setInterval(() => {
      const limit = this.#synced ? this.ctx.heartbeatTimeoutMs : this.ctx.handshakeTimeoutMs;
      if (Date.now() - this.#lastRx > limit) {
        this.#fail({ why: this.#synced ? 'heartbeat: the stream went silent' : 'the stream did not get going in time',
          code: 0, auth: false, reached: this.#reached });
      }
    }, 200);
    void this.#run(cursorOf(since));
  }

  #deliver(text: string): void {
    if (!this.#done) this.ev.message(text);
  }

  async #run(cursor: string): Promise<void> {
    let res: Response;
    try {
      res = await this.ctx.fetch(`${this.ctx.baseUrl}/v1/sse?cursor=${encodeURIComponent(cursor)}`, {
        headers: { authorization: `Bearer ${this.ctx.token()}`, accept: 'text/event-stream' },
        signal: this.#abort.signal,
      });
    } catch (err) {
      return this.#fail({ why: `SSE: ${String(err)}`, code: 0, auth: false, reached: false });
    }
    this.#reached = true;
    if (res.status !== 200 || !res.body) {
      void res.body?.cancel().catch(() => {});
      return this.#fail({ why: `SSE: HTTP ${res.status}`, code: res.status, auth: res.status === 401, reached: true });
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let event = '';
    let data: string[] = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (this.#done) return;
        if (done) break;
        this.#lastRx = Date.now();
        buf += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          let line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {
            if (this.#dispatch(event, data.join('\n'))) return;
            event = '';
            data = [];
          } else if (line.startsWith(':')) {
            // a comment (keep-alive)
          } else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let v = colon < 0 ? '' : line.slice(colon + 1);
            if (v.startsWith(' ')) v = v.slice(1);
            if (field === 'event') event = v;
            else if (field === 'data') data.push(v);
          }
        }
      }
    } catch (err) {
      return this.#fail({ why: `SSE stream: ${String(err)}`, code: 0, auth: false, reached: true });
    }
    this.#fail({ why: 'SSE stream ended', code: 0, auth: false, reached: true });
  }

  // One complete SSE event; returns true when the link ended.
  #dispatch(event: string, data: string): boolean {
    if (event === 'synced') {
      if (!this.#synced) {
        this.#synced = true;
        this.ev.synced();
      }
      return this.#done;
    }
    if (event === 'close') {
      let code = 0;
      try {
        code = Number((JSON.parse(data) as { code?: unknown }).code) || 0;
      } catch {
        // no code
      }
      this.#fail({ why: `SSE closed by the server (${code})`, code, auth: code === 4003, reached: true });
      return true;
    }
    if (data !== '') this.#deliver(data);
    return this.#done;
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
    if (this.#timer) clearInterval(this.#timer);
    this.#abort.abort();
    this.#rpc.close();
  }
}
