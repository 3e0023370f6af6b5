// Shared helpers for the SDK's tests against the real parley binary (PARLEY_BIN): users,
// clients that clean up after the test, event collectors and waiting with a deadline.
// The server itself is started by tests/node/lib/server.mjs (an ephemeral port and a
// temporary data directory per test).
import WebSocket from 'ws';

import { ParleyClient, register, login } from '../../dist/parley.js';

export { startServer } from '../../../../tests/node/lib/server.mjs';

const PASSWORD = 'correct horse battery';

/** Registers and logs in `handle` on srv; returns {id, handle, token, expires_ms}. */
export async function newUser(srv, handle) {
  await register({ server: srv.baseUrl }, handle, PASSWORD);
  const r = await login({ server: srv.baseUrl }, handle, PASSWORD);
  return { id: r.user.id, handle: r.user.handle, token: r.token, expires_ms: r.expires_ms };
}

/** A started client for `user` that records what it emits; stopped when the test ends.
 *  Short timeouts and backoff keep the tests fast. */
export async function newClient(t, server, user, opts = {}) {
  const c = new ParleyClient({
    server: typeof server === 'string' ? server : server.baseUrl,
    token: user.token,
    WebSocket,
    backoff: { baseMs: 50, capMs: 400, stableAfterMs: 10_000 },
    handshakeTimeoutMs: 3_000,
    heartbeatTimeoutMs: 10_000,
    requestTimeoutMs: 5_000,
    ...opts,
  });
  c.onListenerError = (err) => {
    throw err;
  };
  const rec = record(c);
  t.after(() => c.stop());
  await c.start();
  return { c, rec };
}

/** Records every event the client emits, by name (and events by conversation). */
export function record(c) {
  const rec = {
    events: [], acks: [], failed: [], states: [], transports: [], receipts: [], typing: [], presence: [],
    notices: [], messageStates: [], convLists: [], errors: [], authFailed: [], tokens: [], historyLost: [],
  };
  c.on('event', (e) => rec.events.push(e));
  c.on('ack', (a) => rec.acks.push(a));
  c.on('sendFailed', (f) => rec.failed.push(f));
  c.on('state', (s) => rec.states.push(s));
  c.on('transport', (t) => rec.transports.push(t));
  c.on('receipts', (r) => rec.receipts.push(r));
  c.on('typing', (t) => rec.typing.push(t));
  c.on('presence', (p) => rec.presence.push(p));
  c.on('notice', (n) => rec.notices.push(n));
  c.on('messageState', (m) => rec.messageStates.push(m));
  c.on('conversations', (l) => rec.convLists.push(l));
  c.on('error', (e) => rec.errors.push(e));
  c.on('authFailed', (e) => rec.authFailed.push(e));
  c.on('token', (t) => rec.tokens.push(t));
  c.on('historyLost', (h) => rec.historyLost.push(h));
  return rec;
}

/** Resolves with pred()'s truthy value once it has one; throws after timeoutMs. */
export async function waitFor(pred, { timeoutMs = 10_000, what = 'condition', every = 20 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** The texts of the message.created events of conv, in delivery order. */
export function texts(rec, conv) {
  return rec.events.filter((e) => e.conv === conv && e.type === 'message.created').map((e) => e.data.text);
}

/** Asserts-friendly: seqs of conv in delivery order. */
export function seqs(rec, conv) {
  return rec.events.filter((e) => e.conv === conv).map((e) => e.seq);
}

export const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
