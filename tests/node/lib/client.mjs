// WebSocket and REST clients for the parley protocol (docs/protocol.md), for tests.
//
// Every wait has a timeout (DEFAULT_TIMEOUT_MS unless given), so a hung server fails the
// test instead of hanging it.
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';

export const DEFAULT_TIMEOUT_MS = 5_000;

// Races a promise against a timer; rejects with `what` on timeout.
export async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const STATE_NOTICES = new Set(['presence', 'receipts', 'typing']);

// A waiting list of items with timeouts: push() delivers, take(n) waits for n.
class Queue {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.waiters = [];
    this.failure = null;
  }

  push(item) {
    this.items.push(item);
    this.#wake();
  }

  fail(err) {
    this.failure = err;
    this.#wake();
  }

  #wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  async take(n, timeoutMs, context) {
    const deadline = Date.now() + timeoutMs;
    while (this.items.length < n) {
      if (this.failure) {
        throw new Error(`${this.name}: wanted ${n}, have ${this.items.length}; ${this.failure.message}${context()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${n}, have ${this.items.length}${context()}`);
      }
      let timer;
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.items.splice(0, n);
  }
}

export class WsClient {
  constructor(ws, url) {
    this.ws = ws;
    this.url = url;
    this.frames = []; // every frame received, parsed, in arrival order
    this.messages = 0; // WebSocket messages received
    this.events = new Queue('events'); // ev objects of {"ev":...} pushes
    this.notices = []; // {"notice":...} pushes
    this.stateNotices = []; // presence, receipts and typing notices
    this.nullReplies = new Queue('replies with id null');
    this.problems = []; // protocol violations seen (unparseable frame, unmatched reply, ...)
    this.pending = new Map(); // id -> {resolve}
    this.answered = new Set();
    this.nextId = 1;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        const err = new Error(`connection closed with code ${code} ${this.closeInfo.reason}`);
        this.events.fail(err);
        this.nullReplies.fail(err);
        for (const [, p] of this.pending) p.reject(err);
        this.pending.clear();
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('error', (err) => {
      this.problems.push(`socket error: ${err.message}`);
    });
  }

  // Connects to the server's /v1/ws, with `Authorization: Bearer <token>` if token is given.
  // With `deflate`, permessage-deflate is offered and every message sent is compressed.
  static async connect(srvOrUrl, { token, deflate = false, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const url = typeof srvOrUrl === 'string' ? srvOrUrl : srvOrUrl.wsUrl;
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const perMessageDeflate = deflate ? { threshold: 0 } : false;
    const ws = new WebSocket(url, { headers, perMessageDeflate });
    const client = new WsClient(ws, url);
    client.upgradeHeaders = {};
    ws.once('upgrade', (res) => {
      client.upgradeHeaders = res.headers;
    });
    await withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('unexpected-response', (req, res) => {
          reject(new Error(`upgrade refused with HTTP ${res.statusCode}`));
          req.destroy();
        });
        ws.once('error', reject);
      }),
      timeoutMs,
      `connect to ${url}`,
    );
    return client;
  }

  // Connects, authenticates (header, or an `auth` first frame when via === 'frame') and,
  // unless sync === false, starts delivery with `sync` (since as given; none = live only).
  static async open(srv, token, { via = 'header', sync = true, since, deflate = false } = {}) {
    const c = await WsClient.connect(srv, via === 'header' ? { token, deflate } : { deflate });
    if (via !== 'header') await c.call('auth', { token });
    if (sync) await c.call('sync', since === undefined ? {} : { since });
    return c;
  }

  #context() {
    const tail = this.frames.slice(-5).map((f) => JSON.stringify(f).slice(0, 300));
    const close = this.closeInfo ? `; closed ${this.closeInfo.code}` : '';
    return `${close}; last frames: ${tail.join(' | ')}`;
  }

  #onMessage(data, isBinary) {
    this.messages++;
    if (isBinary) this.problems.push('binary message from the server');
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data).toString('utf8');
    for (const part of text.split('\n')) {
      let f;
      try {
        f = JSON.parse(part);
      } catch (err) {
        this.problems.push(`unparseable frame ${JSON.stringify(part.slice(0, 200))}: ${err.message}`);
        continue;
      }
      // Presence, receipts and typing are state notices, kept apart: the scenarios here
      // are about events, replies and the other notices.
      if (f && typeof f === 'object' && STATE_NOTICES.has(f.notice)) {
        this.stateNotices.push(f);
        continue;
      }
      this.frames.push(f);
      if (f === null || typeof f !== 'object' || Array.isArray(f)) {
        this.problems.push(`frame is not an object: ${part.slice(0, 200)}`);
      } else if ('ev' in f) {
        this.events.push(f.ev);
      } else if ('notice' in f) {
        this.notices.push(f);
      } else if ('id' in f) {
        if (f.id === null) {
          this.nullReplies.push(f);
        } else if (this.pending.has(f.id)) {
          const p = this.pending.get(f.id);
          this.pending.delete(f.id);
          this.answered.add(f.id);
          p.resolve(f);
        } else if (this.answered.has(f.id)) {
          this.problems.push(`second reply for id ${JSON.stringify(f.id)}: ${part.slice(0, 200)}`);
        } else {
          this.problems.push(`reply for unknown id: ${part.slice(0, 200)}`);
        }
      } else {
        this.problems.push(`unknown frame: ${part.slice(0, 200)}`);
      }
    }
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  // Sends a raw WebSocket text message (a string) or binary one (a Buffer).
  sendRaw(data) {
    this.ws.send(data, { binary: Buffer.isBuffer(data) });
  }

  // Sends a request; `obj.id` is assigned (an increasing integer) unless present. Resolves
  // with the whole reply frame ({id, result} or {id, error}).
  request(obj, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const frame = { ...obj };
    if (frame.id === undefined) frame.id = this.nextId++;
    if (this.closeInfo) return Promise.reject(new Error(`request ${frame.op}: connection already closed${this.#context()}`));
    const p = new Promise((resolve, reject) => {
      this.pending.set(frame.id, { resolve, reject });
    });
    this.ws.send(JSON.stringify(frame));
    return withTimeout(p, timeoutMs, `reply to ${frame.op} (id ${JSON.stringify(frame.id)})${this.#context()}`).finally(
      () => this.pending.delete(frame.id),
    );
  }

  // request() for an op; resolves with `result`, throws (with .code) on an error reply.
  async call(op, args = {}, opts = {}) {
    const reply = await this.request({ op, ...args }, opts);
    if (reply.error) {
      const err = new Error(`${op} failed: ${JSON.stringify(reply.error)}`);
      err.code = reply.error.code;
      err.reply = reply;
      throw err;
    }
    return reply.result;
  }

  // The next n pushed events (ev objects), in arrival order.
  nextEvents(n, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    return this.events.take(n, timeoutMs, () => this.#context());
  }

  // The next reply with "id": null.
  async nextNullReply({ timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const [f] = await this.nullReplies.take(1, timeoutMs, () => this.#context());
    return f;
  }

  // Asserts-by-throwing that no event (and no stray reply) arrives within ms.
  async expectQuiet(ms = 200) {
    const before = this.frames.length;
    await delay(ms);
    const extra = this.frames.slice(before);
    if (extra.length || this.events.items.length) {
      throw new Error(
        `expected nothing more within ${ms} ms, got ${JSON.stringify([...this.events.items, ...extra]).slice(0, 600)}`,
      );
    }
  }

  // Waits for the close (with a timeout) and returns {code, reason}.
  waitClosed({ timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    return withTimeout(this.closed, timeoutMs, `close of ${this.url}`);
  }

  // Closes (normal closure) and waits for it; terminates the socket if the close hangs.
  async close({ timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    if (this.closeInfo) return this.closeInfo;
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    try {
      return await this.waitClosed({ timeoutMs });
    } catch (err) {
      this.ws.terminate();
      throw err;
    }
  }

  // Drops the TCP connection without a close handshake.
  terminate() {
    this.ws.terminate();
  }
}

// Attempts an upgrade expected to fail: resolves with {status, body} of the HTTP response,
// and throws if the upgrade succeeds.
export async function expectUpgradeRefused(srv, headers, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  const ws = new WebSocket(srv.wsUrl, { headers, perMessageDeflate: false });
  try {
    return await withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', () => reject(new Error('the upgrade was accepted')));
        ws.once('error', (err) => reject(new Error(`socket error instead of an HTTP refusal: ${err.message}`)));
        ws.once('unexpected-response', (req, res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => {
            let json = null;
            try {
              json = JSON.parse(body);
            } catch {
              // left null
            }
            resolve({ status: res.statusCode, headers: res.headers, body, json });
            req.destroy();
          });
          res.on('error', reject);
        });
      }),
      timeoutMs,
      'refused upgrade',
    );
  } finally {
    ws.terminate();
  }
}

// REST: returns {status, body (parsed JSON or null), text, headers}.
export async function rest(srv, method, path, { token, body, rawBody, timeoutMs = DEFAULT_TIMEOUT_MS, headers: extra = {} } = {}) {
  const headers = { ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (rawBody !== undefined) {
    payload = rawBody;
    headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(`${srv.baseUrl}${path}`, {
    method,
    headers,
    body: payload,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

// REST call expected to succeed (200); returns the result object.
export async function restOk(srv, method, path, opts = {}) {
  const r = await rest(srv, method, path, opts);
  if (r.status !== 200) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text}`);
  return r.body;
}

export const PASSWORD = 'correct horse battery';

export async function register(srv, handle, password = PASSWORD) {
  return (await restOk(srv, 'POST', '/v1/register', { body: { handle, password } })).user;
}

// Logs in (a new device); returns {token, user, device, expires_ms}.
export async function login(srv, handle, password = PASSWORD) {
  return restOk(srv, 'POST', '/v1/login', { body: { handle, password } });
}

// Registers and logs in; returns {id, handle, token, device}.
export async function newUser(srv, handle) {
  const u = await register(srv, handle);
  const l = await login(srv, handle);
  return { id: u.id, handle: u.handle, token: l.token, device: l.device };
}

// Pages through a conversation's whole history over REST (oldest first, `after` cursor).
export async function fullHistory(srv, token, conv, { limit = 50 } = {}) {
  const all = [];
  let after = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await restOk(srv, 'GET', `/v1/conversations/${conv}/events?after=${after}&limit=${limit}`, { token });
    all.push(...page.events);
    if (!page.has_more) return all;
    if (page.events.length === 0) throw new Error('has_more with an empty page');
    after = page.events[page.events.length - 1].seq;
  }
  throw new Error('history paging did not end');
}
