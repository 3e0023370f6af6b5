// Resume on another node: a client that drops its connection to one node and resumes (sync
// with its positions) on another gets exactly the events it missed, in order, once; and
// back again. The nodes share only the PostgreSQL database here: every event the client
// should get live comes from the node it is connected to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WsClient, newUser, restOk } from '../node/lib/client.mjs';
import { withCluster } from './lib/cluster.mjs';

const send = (node, user, conv, cmid) =>
  restOk(node, 'POST', `/v1/conversations/${conv}/messages`, { token: user.token, body: { client_msg_id: cmid, text: cmid } });

// Takes n events and asserts they are conv's seqs after..after+n, the same events as its
// history there.
async function expectExactly(client, node, user, conv, after, n) {
  const evs = await client.nextEvents(n);
  assert.deepEqual(evs.map((e) => e.seq), Array.from({ length: n }, (_, i) => after + 1 + i), 'the missed seqs, in order');
  const page = await restOk(node, 'GET', `/v1/conversations/${conv}/events?after=${after}&limit=${n}`, { token: user.token });
  assert.deepEqual(evs, page.events, 'the events as the log has them');
  await client.expectQuiet(300);
  assert.deepEqual(client.problems, []);
  assert.deepEqual(client.notices, [], 'no position_reset or history_pruned');
  return after + n;
}

test('a client resumes on another node with exactly the events it missed', async () => {
  await withCluster({ nodes: 2 }, async (cluster) => {
    const [node1, node2] = cluster.nodes;
    const ann = await newUser(node1, 'ann');
    const bob = await newUser(node2, 'bob');
    const cat = await newUser(node1, 'cat');
    const { conversation } = await restOk(node2, 'POST', '/v1/conversations', {
      token: bob.token,
      body: { kind: 'group', title: 'resume', members: ['ann', 'cat'] },
    });
    const conv = conversation.id;

    // ann on node1 from the start; bob sends there, so ann gets it live on her node.
    const a1 = await WsClient.open(node1, ann.token, { since: { [conv]: 0 } });
    let pos = conversation.last_seq;
    await a1.nextEvents(pos);
    for (let i = 1; i <= 3; i++) await send(node1, bob, conv, `b-${i}`);
    pos = await expectExactly(a1, node1, ann, conv, pos, 3);
    a1.terminate();
    await a1.waitClosed();

    // Missed while away: messages on both nodes, an edit and a reaction.
    const b4 = await send(node2, bob, conv, 'b-4');
    await send(node1, cat, conv, 'c-1');
    await send(node2, bob, conv, 'b-5');
    await restOk(node1, 'PATCH', `/v1/conversations/${conv}/messages/${b4.seq}`, { token: bob.token, body: { text: 'b-4 edited' } });
    await restOk(node2, 'PUT', `/v1/conversations/${conv}/messages/${b4.seq}/reactions/${encodeURIComponent('👍')}`, { token: cat.token });
    await send(node1, cat, conv, 'c-2');

    const a2 = await WsClient.connect(node2, { token: ann.token });
    const synced = await a2.call('sync', { since: { [conv]: pos } });
    const before = pos;
    pos = await expectExactly(a2, node2, ann, conv, pos, 6);
    assert.equal(synced.positions[String(conv)], pos, 'sync reports the end of the log');
    const types = (await restOk(node2, 'GET', `/v1/conversations/${conv}/events?after=${before}`, { token: ann.token })).events.map((e) => e.type);
    assert.deepEqual(types, ['message.created', 'message.created', 'message.created', 'message.edited', 'reaction.added', 'message.created']);

    // Live on node2 after the resume, then away again and back on node1.
    await send(node2, cat, conv, 'c-3');
    pos = await expectExactly(a2, node2, ann, conv, pos, 1);
    await a2.close();
    await send(node2, bob, conv, 'b-6');
    await send(node1, cat, conv, 'c-4');
    const a3 = await WsClient.open(node1, ann.token, { since: { [conv]: pos } });
    pos = await expectExactly(a3, node1, ann, conv, pos, 2);
    await a3.close();
  });
});
