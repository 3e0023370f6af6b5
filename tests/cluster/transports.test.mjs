// Every transport across nodes: bob reads on node2 over a WebSocket (plain and deflate),
// Server-Sent Events or long polling (tests/node/lib/transports.mjs) while ann writes on
// node1; bob gets her messages and typing live (typing repeated for polling, which hears
// notices only while a poll waits), and she gets his (sent through node2's /v1/rpc for SSE
// and polling). Polls wait 30 s on the server here, so only a poll woken by
// the bus delivers within the 5 s the waits allow: behind a proxy without stickiness
// (scripts/cluster.sh) a poll may wait on any node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WsClient, newUser, restOk } from '../node/lib/client.mjs';
import { KINDS, openTransport } from '../node/lib/transports.mjs';
import { withCluster } from './lib/cluster.mjs';

// A long-polling client hears a notice only while a poll waits (docs/protocol.md), so the
// typist repeats, as typists do; the server passes on one start per 2 s.
async function repeatUntilNotice(action, tr, kind, pred, { every = 300, timeoutMs = 7_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await action();
    try {
      return await tr.nextNotice(kind, pred, { timeoutMs: every });
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

test('every transport on one node hears a writer on another', async (t) => {
  await withCluster({ nodes: 2 }, async (cluster) => {
    const [node1, node2] = cluster.nodes;
    for (const kind of KINDS) {
      await t.test(kind, async () => {
        const ann = await newUser(node1, `ann-${kind}`);
        const bob = await newUser(node2, `bob-${kind}`);
        const { conversation } = await restOk(node1, 'POST', '/v1/conversations', { token: ann.token, body: { kind: 'direct', peer: bob.handle } });
        const conv = conversation.id;
        const a = await WsClient.open(node1, ann.token, { since: { [conv]: conversation.last_seq } });
        const b = await openTransport(kind, node2, bob.token, { cursor: `${conv}.${conversation.last_seq}`, pollTimeoutMs: 30_000 });
        try {
          for (let i = 1; i <= 3; i++) {
            const ack = await a.call('send', { conv, client_msg_id: `a-${i}`, text: `from node1 ${i}` });
            const [ev] = await b.nextEvents(1);
            assert.equal(ev.seq, ack.seq, `${kind} on node2 gets ann's message ${i} live`);
            await a.nextEvents(1);
          }
          const isAnnTyping = (n) => n.conv === conv && n.user === ann.id && n.typing === true;
          if (kind === 'poll') {
            await repeatUntilNotice(() => a.call('typing', { conv, typing: true }), b, 'typing', isAnnTyping);
          } else {
            await a.call('typing', { conv, typing: true });
            await b.nextNotice('typing', isAnnTyping);
          }

          const ack = await b.call('send', { conv, client_msg_id: 'b-1', text: 'from node2' });
          const [ev] = await a.nextEvents(1);
          assert.equal(ev.seq, ack.seq, `ann on node1 gets bob's message sent over ${kind}`);
          await b.nextEvents(1);
          assert.deepEqual(b.problems, [], `${kind}: no gap, duplicate or bad cursor`);
          assert.deepEqual(a.problems, []);
        } finally {
          await b.close();
          await a.close();
        }
      });
    }
  });
});
