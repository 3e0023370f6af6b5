// One client interface over the four ways a parley client can talk to the server
// (docs/protocol.md, "WebSocket" and "Server-Sent Events and long polling"), so a scenario is
// written once and run on each:
//
//   'ws'          WebSocket (npm `ws`, through WsClient), requests as frames, `sync` + `since`
//   'ws-deflate'  the same with permessage-deflate
//   'sse'         npm `eventsource` (GET /v1/sse) for pushes, POST /v1/rpc for requests
//   'poll'        fetch long polling (GET /v1/poll) for pushes, POST /v1/rpc for requests
//
//   const tr = await openTransport(kind, srv, token, { cursor: 'all' });
//   await tr.call('send', {...})        -> result; throws (err.code, err.reply) on an error reply
//   await tr.request({op, ...})         -> the whole reply {id, result} / {id, error}
//   await tr.nextEvents(n)              -> the next n events not yet taken
//   await tr.untilSeq(conv, seq)        -> waits until the client processed conv up to seq
//   await tr.nextNotice('typing', pred) -> the first notice of that kind (matching pred) not yet taken
//   tr.cursor()                         -> the resume position in cursor form (`12.57-13.4`)
//   await tr.disconnect(); await tr.resume(); await tr.reconnect()
//   await tr.waitEnd()                  -> how the server ended the stream ({code} / {status})
//   await tr.close()
//
// Every client keeps all it received (`events`, `notices`) and checks as it goes that each
// conversation's events come gapless and once (`problems`), and that SSE ids and poll cursors
// name the position after the frames they came with.
import { setTimeout as delay } from 'node:timers/promises';
import { EventSource } from 'eventsource';

import { WsClient, DEFAULT_TIMEOUT_MS } from './client.mjs';

export const KINDS = ['ws', 'ws-deflate', 'sse', 'poll'];

// How long a poll waits on the server when nothing comes (short, so the timeout path is
// exercised too; long enough that a poll is nearly always waiting).
const DEFAULT_POLL_TIMEOUT_MS = 3_000;

// {conv: seq} -> cursor `c.s-c.s` in ascending conversation order ('' for none).
export function cursorOf(positions) {
  return Object.entries(positions)
    .map(([c, s]) => [Number(c), Number(s)])
    .sort((x, y) => x[0] - y[0])
    .map(([c, s]) => `${c}.${s}`)
    .join('-');
}

// Cursor -> sync's `since` (undefined: live from now; {}: every conversation from the join).
export function sinceOf(cursor) {
  if (cursor === undefined || cursor === null || cursor === '') return undefined;
  if (cursor === 'all') return {};
  const since = {};
  for (const part of cursor.split('-')) {
    const m = /^(\d+)\.(\d+)$/.exec(part);
    if (!m) throw new Error(`not a cursor: ${JSON.stringify(cursor)}`);
    since[m[1]] = Number(m[2]);
  }
  return since;
}

// What a client received, with waits that time out and the per-conversation order checks.
class Inbox {
  constructor(name) {
    this.name = name;
    this.frames = []; // every push frame, in arrival order
    this.events = []; // every ev, in arrival order (duplicates included, if any)
    this.notices = []; // every notice frame, in arrival order
    this.positions = {}; // conv -> last seq processed
    this.problems = []; // gaps, duplicates, ids that do not match, unexpected HTTP answers
    this.taken = 0; // events handed out by nextEvents
    this.noticesTaken = new Set(); // indexes of notices handed out by nextNotice
    this.end = null; // how the server ended the stream, once it did
    this.waiters = [];
  }

  wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  push(f) {
    this.frames.push(f);
    if (f && typeof f === 'object' && f.ev) {
      const ev = f.ev;
      const last = this.positions[ev.conv];
      if (last !== undefined && ev.seq !== last + 1) {
        this.problems.push(
          `${ev.seq <= last ? 'duplicate' : 'gap'}: conv ${ev.conv} seq ${ev.seq} after ${last}`,
        );
      }
      if (last === undefined || ev.seq > last) this.positions[ev.conv] = ev.seq;
      this.events.push(ev);
    } else if (f && typeof f === 'object' && typeof f.notice === 'string') {
      this.notices.push(f);
    } else {
      this.problems.push(`unexpected push frame ${JSON.stringify(f).slice(0, 200)}`);
    }
    this.wake();
  }

  // Positions the server reports (sync reply): where delivery continues from.
  merge(positions) {
    for (const [c, s] of Object.entries(positions)) {
      const cur = this.positions[c];
      if (cur === undefined || s > cur) this.positions[c] = s;
    }
  }

  finish(info) {
    if (!this.end) this.end = info;
    this.wake();
  }

  context() {
    const tail = this.frames.slice(-5).map((f) => JSON.stringify(f).slice(0, 200));
    const end = this.end ? `; ended ${JSON.stringify(this.end)}` : '';
    return `${end}; last frames: ${tail.join(' | ')}`;
  }

  async until(cond, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = cond();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}${this.context()}`);
      let timer;
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
}

// The parts every transport shares; subclasses provide connect/disconnect and request.
class Transport {
  constructor(kind, srv, token, cursor) {
    this.kind = kind;
    this.srv = srv;
    this.token = token;
    this.startCursor = cursor;
    this.inbox = new Inbox(kind);
    this.closed = false;
    this.connects = 0; // streams opened (reconnects included)
  }

  get events() {
    return this.inbox.events;
  }

  get notices() {
    return this.inbox.notices;
  }

  get problems() {
    return this.inbox.problems;
  }

  get positions() {
    return this.inbox.positions;
  }

  async call(op, args = {}, opts = {}) {
    const reply = await this.request({ op, ...args }, opts);
    if (reply.error) {
      const err = new Error(`${op} failed over ${this.kind}: ${JSON.stringify(reply.error)}`);
      err.code = reply.error.code;
      err.reply = reply;
      throw err;
    }
    return reply.result;
  }

  // The next n events not yet taken, in arrival order.
  async nextEvents(n, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const ib = this.inbox;
    await ib.until(() => ib.events.length - ib.taken >= n, timeoutMs, `${n} more events (have ${ib.events.length - ib.taken})`);
    const out = ib.events.slice(ib.taken, ib.taken + n);
    ib.taken += n;
    return out;
  }

  // Waits until conv has been processed up to seq (events not taken).
  untilSeq(conv, seq, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const ib = this.inbox;
    return ib.until(() => (ib.positions[conv] ?? 0) >= seq, timeoutMs, `conv ${conv} up to seq ${seq} (at ${ib.positions[conv]})`);
  }

  // The first notice of `kind` matching pred that nextNotice has not returned before.
  async nextNotice(kind, pred = () => true, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const ib = this.inbox;
    const i = await ib.until(
      () => {
        const k = ib.notices.findIndex((n, idx) => !ib.noticesTaken.has(idx) && n.notice === kind && pred(n));
        return k >= 0 ? k + 1 : 0;
      },
      timeoutMs,
      `a ${kind} notice`,
    );
    ib.noticesTaken.add(i - 1);
    return ib.notices[i - 1];
  }

  // Resolves with how the server ended the stream.
  waitEnd({ timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const ib = this.inbox;
    return ib.until(() => ib.end, timeoutMs, 'the end of the stream');
  }

  // Drops the connection and resumes at once from where it was.
  async reconnect() {
    await this.disconnect();
    await this.resume();
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    await this.disconnect();
  }
}

// ---------------------------------------------------------------------------------------
// WebSocket (plain or with permessage-deflate)

class WsTransport extends Transport {
  constructor(kind, srv, token, cursor) {
    super(kind, srv, token, cursor);
    this.deflate = kind === 'ws-deflate';
    this.client = null;
    this.clients = []; // every connection made, in order
    this.closeCodes = []; // close codes of every connection, in order
  }

  async connect(cursor) {
    const c = await WsClient.connect(this.srv, { token: this.token, deflate: this.deflate });
    this.client = c;
    this.clients.push(c);
    this.connects++;
    c.ws.on('message', (data, isBinary) => {
      if (isBinary || this.client !== c || this.dropping || this.closed) return;
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data).toString('utf8');
      for (const part of text.split('\n')) {
        let f;
        try {
          f = JSON.parse(part);
        } catch {
          continue; // WsClient records it as a problem
        }
        if (f && typeof f === 'object' && ('ev' in f || 'notice' in f)) this.inbox.push(f);
      }
    });
    c.closed.then((info) => {
      this.closeCodes.push(info.code);
      if (this.client === c && !this.dropping) this.inbox.finish({ code: info.code, reason: info.reason });
    });
    const since = sinceOf(cursor);
    const r = await c.call('sync', since === undefined ? {} : { since });
    this.inbox.merge(r.positions);
    return r;
  }

  open() {
    return this.connect(this.startCursor);
  }

  // The positions reached as a cursor; `all` when there are none yet (a sync without since
  // would start from now and skip a conversation joined meanwhile).
  cursor() {
    return cursorOf(this.inbox.positions) || 'all';
  }

  request(obj, opts) {
    if (!this.client) return Promise.reject(new Error('ws: not connected'));
    return this.client.request(obj, opts);
  }

  // Protocol problems WsClient saw on any of the connections (unparseable or unmatched frames).
  get wsProblems() {
    return this.clients.flatMap((c) => c.problems);
  }

  async disconnect() {
    const c = this.client;
    if (!c || c.closeInfo) return;
    this.dropping = true;
    c.terminate();
    await c.waitClosed();
    this.dropping = false;
  }

  // Opens a new connection and syncs from the positions reached, if the current one is gone.
  async resume() {
    if (this.client && !this.client.closeInfo) return;
    this.inbox.end = null;
    await this.connect(this.cursor());
  }
}

// ---------------------------------------------------------------------------------------
// Commands over POST /v1/rpc (for SSE and long polling)

class HttpTransport extends Transport {
  constructor(kind, srv, token, cursor) {
    super(kind, srv, token, cursor);
    this.nextId = 1;
    this.httpStatuses = []; // status of every stream request (SSE GET, poll GET), in order
  }

  async request(obj, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const frame = { ...obj };
    if (frame.id === undefined) frame.id = `r${this.nextId++}`;
    const res = await fetch(`${this.srv.baseUrl}/v1/rpc`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(frame),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (res.status !== 200) {
      const err = new Error(`POST /v1/rpc ${frame.op}: HTTP ${res.status} ${text}`);
      err.status = res.status;
      throw err;
    }
    const reply = JSON.parse(text);
    if (reply.id !== frame.id) {
      this.inbox.problems.push(`rpc reply id ${JSON.stringify(reply.id)} for request id ${JSON.stringify(frame.id)}`);
    }
    return reply;
  }
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events with the npm `eventsource` client

class SseTransport extends HttpTransport {
  constructor(kind, srv, token, cursor) {
    super(kind, srv, token, cursor);
    this.es = null;
    this.lastId = null; // id of the last frame processed (null: none yet)
    this.requests = []; // {url, lastEventId} of every GET the EventSource made
    this.errors = []; // error events of the EventSource ({code, message})
    this.synced = 0;
  }

  // Opens an EventSource on /v1/sse?cursor=<urlCursor>; with lastEventId, the first request
  // also carries Last-Event-ID (which the server must prefer to the URL's cursor). Later
  // reconnections by the EventSource itself carry the last id it saw, as browsers do.
  async connect(urlCursor, lastEventId) {
    const url = `${this.srv.baseUrl}/v1/sse?cursor=${encodeURIComponent(urlCursor ?? '')}`;
    let first = true;
    const es = new EventSource(url, {
      fetch: async (input, init) => {
        const headers = { ...init.headers, Authorization: `Bearer ${this.token}` };
        if (first && lastEventId) headers['Last-Event-ID'] = lastEventId;
        first = false;
        this.requests.push({ url: String(input), lastEventId: headers['Last-Event-ID'] ?? null });
        this.connects++;
        const res = await fetch(input, { ...init, headers });
        if (es === this.es) this.httpStatuses.push(res.status);
        return res;
      },
    });
    this.es = es;
    const mine = () => es === this.es && !this.dropped;
    const syncedBefore = this.synced;
    es.onmessage = (m) => {
      if (!mine()) return;
      let f;
      try {
        f = JSON.parse(m.data);
      } catch {
        this.inbox.problems.push(`sse: unparseable data ${JSON.stringify(m.data).slice(0, 200)}`);
        return;
      }
      this.lastId = m.lastEventId;
      if (f && f.ev) {
        // The id is the position after this frame.
        let at;
        try {
          at = sinceOf(m.lastEventId) ?? {};
        } catch {
          at = {};
        }
        if (at[f.ev.conv] !== f.ev.seq) {
          this.inbox.problems.push(`sse: id ${JSON.stringify(m.lastEventId)} with event ${f.ev.conv}.${f.ev.seq}`);
        }
      }
      this.inbox.push(f);
    };
    es.addEventListener('synced', (m) => {
      if (!mine()) return;
      this.lastId = m.lastEventId;
      this.synced++;
      this.inbox.merge(sinceOf(m.lastEventId) ?? {});
      this.inbox.wake();
    });
    es.addEventListener('close', (m) => {
      if (!mine()) return;
      let data = null;
      try {
        data = JSON.parse(m.data);
      } catch {
        // left null
      }
      this.closeEvents = [...(this.closeEvents ?? []), data];
      this.inbox.finish({ code: data?.code, reason: data?.reason, via: 'event: close' });
    });
    es.addEventListener('error', (e) => {
      if (!mine()) return;
      if (typeof e.data === 'string') {
        // `event: error` from the server: the sync failed.
        this.inbox.problems.push(`sse: server error event ${e.data}`);
        return;
      }
      this.errors.push({ code: e.code, message: e.message, readyState: es.readyState });
      if (es.readyState === EventSource.CLOSED) this.inbox.finish({ status: e.code, message: e.message, via: 'EventSource failed' });
      this.inbox.wake();
    });
    // Live once the server said the replay is done.
    await this.inbox.until(() => this.synced > syncedBefore || this.inbox.end, DEFAULT_TIMEOUT_MS, 'event: synced');
    if (this.synced === syncedBefore) throw new Error(`sse: the stream ended before synced: ${JSON.stringify(this.inbox.end)}`);
  }

  open() {
    return this.connect(this.startCursor);
  }

  get readyState() {
    return this.es ? this.es.readyState : EventSource.CLOSED;
  }

  // The last id seen (the position after it), else where the stream started.
  cursor() {
    return this.lastId !== null && this.lastId !== '' ? this.lastId : this.startCursor ?? '';
  }

  async disconnect() {
    if (this.es) {
      this.dropped = true;
      this.es.close();
    }
  }

  // After disconnect(): a new EventSource resuming with Last-Event-ID (the URL keeps the
  // first cursor, which the header must override). If the EventSource is still open or
  // reconnecting by itself (the server went away), it is left to do that.
  async resume() {
    if (this.es && !this.dropped && this.es.readyState !== EventSource.CLOSED) {
      await this.inbox.until(() => this.es.readyState === EventSource.OPEN, 10_000, 'the EventSource to reconnect');
      return;
    }
    this.dropped = false;
    this.inbox.end = null;
    const id = this.lastId !== null && this.lastId !== '' ? this.lastId : null;
    await this.connect(this.startCursor, id);
  }
}

// ---------------------------------------------------------------------------------------
// Long polling with fetch

class PollTransport extends HttpTransport {
  constructor(kind, srv, token, cursor, { pollTimeoutMs = DEFAULT_POLL_TIMEOUT_MS } = {}) {
    super(kind, srv, token, cursor);
    this.pollTimeoutMs = pollTimeoutMs;
    this.cur = cursor ?? '';
    this.loop = null;
    this.abort = null;
    this.polls = 0; // polls answered with 200
    this.networkErrors = 0;
    this.waiting = false; // a poll is in flight
    this.stopped = true;
  }

  async pollOnce(state) {
    const url =
      `${this.srv.baseUrl}/v1/poll?cursor=${encodeURIComponent(this.cur)}&timeout_ms=${this.pollTimeoutMs}` +
      (state ? '&state=1' : '');
    const ac = new AbortController();
    this.abort = ac;
    const timer = setTimeout(() => ac.abort(), this.pollTimeoutMs + 5_000);
    this.connects++;
    this.waiting = true;
    try {
      const res = await fetch(url, { headers: { Authorization: `Bearer ${this.token}` }, signal: ac.signal });
      const text = await res.text();
      return { status: res.status, text };
    } finally {
      this.waiting = false;
      clearTimeout(timer);
    }
  }

  async run() {
    let first = true;
    while (!this.stopped) {
      let r;
      try {
        r = await this.pollOnce(first);
      } catch (err) {
        if (this.stopped) break;
        // The server is away (killed, restarting): try again shortly.
        this.networkErrors++;
        await delay(50);
        continue;
      }
      if (this.stopped) break; // an answer that came while dropping is not processed
      this.httpStatuses.push(r.status);
      if (r.status !== 200) {
        let body = null;
        try {
          body = JSON.parse(r.text);
        } catch {
          // left null
        }
        if (r.status === 401) {
          this.inbox.finish({ status: 401, code: body?.error?.code, via: 'poll' });
          this.stopped = true;
          break;
        }
        this.inbox.problems.push(`poll: HTTP ${r.status} ${r.text.slice(0, 200)}`);
        await delay(100);
        continue;
      }
      first = false;
      const body = JSON.parse(r.text);
      this.polls++;
      const next = sinceOf(body.cursor) ?? {};
      for (const f of body.frames) this.inbox.push(f);
      // The cursor is the position after the frames.
      const lastOf = {};
      for (const f of body.frames) if (f.ev) lastOf[f.ev.conv] = f.ev.seq;
      for (const [c, s] of Object.entries(lastOf)) {
        if (next[c] !== s) this.inbox.problems.push(`poll: cursor ${body.cursor} after event ${c}.${s}`);
      }
      this.inbox.merge(next);
      this.cur = body.cursor;
      this.inbox.wake();
    }
  }

  async open() {
    await this.resume();
  }

  cursor() {
    return this.cur;
  }

  async disconnect() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
    if (this.loop) await this.loop;
    this.loop = null;
  }

  // Polls again from the cursor (the loop keeps going by itself through server restarts).
  async resume() {
    if (!this.stopped) return;
    this.stopped = false;
    this.inbox.end = null;
    this.loop = this.run().catch((err) => {
      this.inbox.problems.push(`poll loop failed: ${err.stack}`);
    });
  }
}

const CLASSES = { ws: WsTransport, 'ws-deflate': WsTransport, sse: SseTransport, poll: PollTransport };

// Opens a client of `kind` for token, delivering from `cursor` ('' = from now on, 'all' =
// every conversation from the join, or `c.s-c.s`). Resolves once the stream is live (ws:
// after the sync reply; sse: after `event: synced`; poll: once the first poll is sent).
// `pollTimeoutMs`: the timeout_ms of each poll (poll only).
export async function openTransport(kind, srv, token, { cursor = '', pollTimeoutMs } = {}) {
  const Cls = CLASSES[kind];
  if (!Cls) throw new Error(`unknown transport ${kind}`);
  const tr = new Cls(kind, srv, token, cursor, { pollTimeoutMs });
  await tr.open();
  return tr;
}
