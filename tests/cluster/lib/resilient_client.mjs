// A protocol client that behaves like the SDKs (docs/sdk.md, "Outbox"): it stays connected
// (reconnecting with backoff, to the same node first, else the next of its list), resumes
// with `sync` and its positions, and sends an outbox of messages with client_msg_ids, at most
// `window` awaiting their acknowledgement, resending everything unacknowledged from the
// oldest after any failure (a transient error reply, a timeout, a lost connection) until
// acknowledged. Connections are tests/node/lib/client.mjs's WsClient.
//
// What it checks, as `problems` (the tests assert it stays empty):
//   - every event it processes is the next seq of its conversation: no gap, no duplicate,
//     across reconnects and nodes;
//   - no position_reset or history_pruned notice, no protocol violation on any connection;
//   - a send is never refused with a permanent error; a repeated acknowledgement of one
//     client_msg_id (duplicate: true) names the seq of the first.
// and it records what it saw: `log` (events processed, in order), `acks` (client_msg_id ->
// seq), `attempted` (client_msg_ids ever transmitted), `duplicates` (acknowledgements of a
// resend that was already stored), `connects` (node name per connection).
import { setTimeout as delay } from 'node:timers/promises';
import { WsClient } from '../../node/lib/client.mjs';

const PERMANENT = new Set(['invalid', 'forbidden', 'not_found', 'too_large', 'conflict', 'unauthenticated']);
const CONNECT_TIMEOUT_MS = 2_000;
const SYNC_TIMEOUT_MS = 10_000;
const SEND_TIMEOUT_MS = 5_000;
const HOUR_MS = 3_600_000;

export class ResilientClient {
  // nodes: ParleyServer objects (wsUrl, name), the first is where it connects first;
  // positions: {conv: seq} to resume from (the seq before the first event it should get).
  constructor({ name, user, nodes, positions, window = 16 }) {
    this.name = name;
    this.user = user; // {id, handle, token}
    this.nodes = nodes;
    this.nodeIdx = 0;
    this.positions = { ...positions };
    this.window = window;
    this.log = [];
    this.problems = [];
    this.outbox = []; // {cmid, conv, text}, oldest first
    this.inflight = new Set();
    this.acks = new Map();
    this.duplicates = 0; // acknowledgements with duplicate: true (a resend of a stored message)
    this.attempted = new Set();
    this.connects = [];
    this.conn = null;
    this.synced = false;
    this.stopped = false;
    this.loop = null;
    this.counter = 0;
  }

  get node() {
    return this.nodes[this.nodeIdx % this.nodes.length];
  }

  start() {
    this.loop = this.#run();
    return this;
  }

  // Resolves once a connection is synced (the first one, or the next after a drop).
  async waitSynced(timeoutMs = 15_000) {
    await waitUntil(() => this.synced, timeoutMs, `${this.name} synced`);
  }

  // Adds a message to the outbox (client_msg_id `<name>:<n>`) and sends it when it can.
  enqueue(conv, text) {
    const cmid = `${this.name}:${++this.counter}`;
    this.outbox.push({ cmid, conv, text: text ?? `${this.name} message ${this.counter}` });
    this.#flush();
    return cmid;
  }

  get pending() {
    return this.outbox.length;
  }

  // Sends one of its current connection's requests (for tests that drive other operations).
  call(op, args, opts) {
    if (!this.conn || !this.synced) throw new Error(`${this.name}: not connected`);
    return this.conn.call(op, args, opts);
  }

  // Drops the current connection without a close handshake; it reconnects as after a crash.
  drop() {
    this.conn?.terminate();
  }

  async stop() {
    this.stopped = true;
    this.conn?.terminate();
    await this.loop;
  }

  async #run() {
    let failures = 0;
    while (!this.stopped) {
      const node = this.node;
      let c;
      try {
        c = await WsClient.connect(node.wsUrl, { token: this.user.token, timeoutMs: CONNECT_TIMEOUT_MS });
      } catch {
        // The node is down (or refuses for now): try the next one after a pause.
        this.nodeIdx++;
        await delay(backoff(++failures));
        continue;
      }
      if (this.stopped) {
        c.terminate();
        break;
      }
      this.conn = c;
      this.connects.push(node.name);
      const pump = this.#pump(c);
      try {
        await c.call('sync', { since: { ...this.positions } }, { timeoutMs: SYNC_TIMEOUT_MS });
        failures = 0;
        this.synced = true;
        this.inflight.clear();
        this.#flush();
      } catch {
        c.terminate();
      }
      await c.closed;
      this.synced = false;
      await pump;
      this.#checkConnection(c, node);
      if (!this.stopped) await delay(backoff(++failures));
    }
  }

  // Processes the connection's events in arrival order until it closes and is drained.
  async #pump(c) {
    for (;;) {
      let evs;
      try {
        evs = await c.events.take(1, HOUR_MS, () => '');
      } catch {
        return;
      }
      this.#onEvent(evs[0]);
    }
  }

  #onEvent(ev) {
    const last = this.positions[ev.conv] ?? 0;
    if (ev.seq !== last + 1) {
      const what = ev.seq <= last ? 'duplicate' : 'gap';
      this.problems.push(`${this.name}: ${what}: conv ${ev.conv} seq ${ev.seq} after ${last} (connection ${this.connects.length} to ${this.connects.at(-1)})`);
    }
    if (ev.seq > last) {
      this.positions[ev.conv] = ev.seq;
      this.log.push(ev);
    }
  }

  #checkConnection(c, node) {
    for (const n of c.notices) {
      if (n.notice === 'position_reset' || n.notice === 'history_pruned') {
        this.problems.push(`${this.name}: notice from ${node.name}: ${JSON.stringify(n)}`);
      }
    }
    for (const p of c.problems) {
      if (!p.startsWith('socket error')) this.problems.push(`${this.name}: protocol problem on ${node.name}: ${p}`);
    }
  }

  #flush() {
    if (!this.synced || !this.conn) return;
    for (const e of this.outbox) {
      if (this.inflight.size >= this.window) break;
      if (this.inflight.has(e.cmid)) continue;
      this.#send(this.conn, e);
    }
  }

  async #send(c, e) {
    this.inflight.add(e.cmid);
    this.attempted.add(e.cmid);
    let r;
    try {
      r = await c.call('send', { conv: e.conv, client_msg_id: e.cmid, text: e.text }, { timeoutMs: SEND_TIMEOUT_MS });
    } catch (err) {
      if (c !== this.conn) return; // a request of a connection already given up
      if (err.code && PERMANENT.has(err.code)) {
        this.problems.push(`${this.name}: send ${e.cmid} refused: ${err.message}`);
        this.outbox = this.outbox.filter((x) => x !== e);
        this.inflight.delete(e.cmid);
        return;
      }
      // Transient (internal, rate_limited, a timeout, the connection lost): reconnect and
      // resend everything unacknowledged, oldest first.
      c.terminate();
      return;
    }
    const first = this.acks.get(e.cmid);
    if (first !== undefined && first !== r.seq) {
      this.problems.push(`${this.name}: ${e.cmid} acknowledged as seq ${first}, then as seq ${r.seq}`);
    }
    if (first === undefined) this.acks.set(e.cmid, r.seq);
    if (r.duplicate) this.duplicates++;
    if (r.client_msg_id !== e.cmid || r.conv !== e.conv) {
      this.problems.push(`${this.name}: ack for ${e.cmid} says ${JSON.stringify(r)}`);
    }
    this.outbox = this.outbox.filter((x) => x !== e);
    if (c === this.conn) {
      this.inflight.delete(e.cmid);
      this.#flush();
    }
  }
}

// 100 ms, 200 ms, ... at most 1 s: the SDK's backoff, shortened for tests.
function backoff(failures) {
  return Math.min(100 * failures, 1_000);
}

// Polls pred every 25 ms until it holds; throws `what` (and detail(), if given) on timeout.
export async function waitUntil(pred, timeoutMs, what, detail = () => '') {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail()}`);
    await delay(25);
  }
}
