// Chat load over a cluster, and its verdict: the kill -9, NATS restart and PostgreSQL
// restart scenarios share it.
//
//   const load = await startLoad(cluster, {
//     senders: { snd1: 0, snd2: 0, snd3: 1 },   // handle -> index of the node it connects to first
//     receivers: { rcv1: 0, rcv2: 1 },
//   });
//   load.startSending(30);  ...disturb the cluster...  load.stopSending();
//   await load.settle();    // every outbox empty, every client at the end of the log
//   await load.verify({ order: true });
//   await load.stop();
//
// Everyone is in one group conversation. Each client (ResilientClient) prefers its node and
// fails over to the others. verify() asserts, against the history read from every running
// node: seqs gapless from 1; each message sent (every client_msg_id ever transmitted) present
// exactly once, at the seq of its acknowledgement; no message nobody sent; every client's
// stream free of gaps and duplicates and equal to the history from where it started; with
// `order`, each sender's messages in the order it queued them (the SDKs keep that order
// except around a transient error reply, docs/sdk.md).
import assert from 'node:assert/strict';
import { fullHistory, newUser, restOk } from '../../node/lib/client.mjs';
import { ResilientClient, waitUntil } from './resilient_client.mjs';

export async function startLoad(cluster, { senders, receivers, window = 16 }) {
  const first = cluster.nodes[0];
  const handles = [...Object.keys(senders), ...Object.keys(receivers)];
  const users = {};
  for (const h of handles) users[h] = await newUser(first, h);
  const owner = users[handles[0]];
  const { conversation } = await restOk(first, 'POST', '/v1/conversations', {
    token: owner.token,
    body: { kind: 'group', title: 'load', members: handles.slice(1) },
  });
  const conv = conversation.id;
  const clientFor = (handle, idx) => {
    // Its own node first, then the others in order.
    const nodes = [...cluster.nodes.slice(idx), ...cluster.nodes.slice(0, idx)];
    return new ResilientClient({ name: handle, user: users[handle], nodes, positions: { [conv]: 0 }, window }).start();
  };
  const load = new Load(cluster, conv, users);
  for (const [h, idx] of Object.entries(senders)) load.senders.push(clientFor(h, idx));
  for (const [h, idx] of Object.entries(receivers)) load.receivers.push(clientFor(h, idx));
  for (const c of load.clients) await c.waitSynced();
  return load;
}

class Load {
  constructor(cluster, conv, users) {
    this.cluster = cluster;
    this.conv = conv;
    this.users = users;
    this.senders = [];
    this.receivers = [];
    this.timer = null;
  }

  get clients() {
    return [...this.senders, ...this.receivers];
  }

  // Every sender queues one message each intervalMs.
  startSending(intervalMs) {
    this.timer = setInterval(() => {
      for (const s of this.senders) s.enqueue(this.conv);
    }, intervalMs);
  }

  // Every sender of `senders` (default all) queues n messages at once.
  burst(n, senders = this.senders) {
    for (const s of senders) for (let i = 0; i < n; i++) s.enqueue(this.conv);
  }

  get duplicates() {
    return this.senders.reduce((n, s) => n + s.duplicates, 0);
  }

  stopSending() {
    clearInterval(this.timer);
    this.timer = null;
  }

  get acked() {
    return this.senders.reduce((n, s) => n + s.acks.size, 0);
  }

  #status() {
    return this.clients
      .map((c) => `${c.name}: at ${c.positions[this.conv]}, outbox ${c.pending}, via ${c.connects.join('>')}`)
      .join('; ');
  }

  // A running node to read from.
  #node() {
    const node = this.cluster.nodes.find((n) => n.running);
    assert.ok(node, 'no node running');
    return node;
  }

  // Waits until every outbox is empty (all acknowledged), then until every client's
  // position is the end of the log.
  async settle({ ackTimeoutMs = 20_000, deliverTimeoutMs = 10_000 } = {}) {
    await waitUntil(() => this.senders.every((s) => s.pending === 0), ackTimeoutMs, 'every send acknowledged', () => `: ${this.#status()}`);
    const owner = Object.values(this.users)[0];
    const { conversation } = await restOk(this.#node(), 'GET', `/v1/conversations/${this.conv}`, { token: owner.token });
    const last = conversation.last_seq;
    await waitUntil(
      () => this.clients.every((c) => c.positions[this.conv] >= last),
      deliverTimeoutMs,
      `every client at seq ${last}`,
      () => `: ${this.#status()}; ${this.clients.flatMap((c) => c.problems).slice(0, 10).join('; ')}`,
    );
    return last;
  }

  async verify({ order }) {
    const owner = Object.values(this.users)[0];
    const histories = [];
    for (const node of this.cluster.nodes.filter((n) => n.running)) {
      histories.push({ node: node.name, events: await fullHistory(node, owner.token, this.conv) });
    }
    const history = histories[0].events;
    for (const h of histories.slice(1)) {
      assert.deepEqual(h.events.map((e) => e.id), history.map((e) => e.id), `${h.node} and ${histories[0].node} serve the same history`);
    }
    assert.deepEqual(history.map((e) => e.seq), history.map((_, i) => i + 1), 'seqs are gapless from 1');

    const bySeq = new Map(history.map((e) => [e.seq, e]));
    const count = new Map();
    for (const e of history) {
      if (e.type !== 'message.created') continue;
      count.set(e.client_msg_id, (count.get(e.client_msg_id) ?? 0) + 1);
    }
    const doubled = [...count].filter(([, n]) => n > 1).map(([id]) => id);
    assert.deepEqual(doubled, [], 'no message stored twice');

    let attempted = 0;
    for (const s of this.senders) {
      const userId = this.users[s.name].id;
      for (const cmid of s.attempted) {
        attempted++;
        assert.equal(count.get(cmid), 1, `${cmid} (transmitted) is in the log once`);
      }
      for (const [cmid, seq] of s.acks) {
        const e = bySeq.get(seq);
        assert.ok(e && e.client_msg_id === cmid && e.sender === userId, `${cmid} is at its acknowledged seq ${seq}`);
      }
      const mine = history.filter((e) => e.type === 'message.created' && e.sender === userId);
      for (const e of mine) assert.ok(s.attempted.has(e.client_msg_id), `${e.client_msg_id} at seq ${e.seq} was sent by ${s.name}`);
      if (order) {
        const counters = mine.map((e) => Number(e.client_msg_id.split(':')[1]));
        assert.deepEqual(counters, [...counters].sort((a, b) => a - b), `${s.name}'s messages are in the order queued`);
      }
    }
    assert.equal(count.size, attempted, 'every message in the log was transmitted by a sender');

    for (const c of this.clients) {
      assert.deepEqual(c.problems, [], `${c.name}'s streams have no gap, duplicate or protocol problem`);
      assert.deepEqual(
        c.log.filter((e) => e.conv === this.conv).map((e) => e.id),
        history.map((e) => e.id),
        `${c.name} received exactly the log, in order`,
      );
    }
    return { events: history.length, messages: attempted };
  }

  async stop() {
    this.stopSending();
    await Promise.all(this.clients.map((c) => c.stop()));
  }
}
