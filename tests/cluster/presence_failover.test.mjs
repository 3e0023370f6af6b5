// Presence when a node dies: ann is connected to node1 only, bob to node2. When node1 is
// killed with SIGKILL (no goodbye on the bus), bob must see ann go offline once node2 stops
// hearing from node1 (a node silent for 6 s is forgotten, src/server/presence.hpp), and
// online again when she reconnects to the restarted node1.
import { test } from 'node:test';
import { WsClient, newUser, restOk } from '../node/lib/client.mjs';
import { withCluster } from './lib/cluster.mjs';
import { presenceOf } from './lib/presence.mjs';
import { waitUntil } from './lib/resilient_client.mjs';

// ann connected to node1 and bob to node2, in one direct conversation, bob seeing ann online.
async function annOnNode1BobOnNode2(cluster) {
  const [node1, node2] = cluster.nodes;
  const ann = await newUser(node1, 'ann');
  const bob = await newUser(node2, 'bob');
  await restOk(node1, 'POST', '/v1/conversations', { token: ann.token, body: { kind: 'direct', peer: 'bob' } });
  const a = await WsClient.open(node1, ann.token);
  const b = await WsClient.open(node2, bob.token);
  const seen = () => `; bob's presence notices: ${JSON.stringify(b.stateNotices.filter((n) => n.notice === 'presence'))}`;
  await waitUntil(() => presenceOf(b, ann.id) === 'online', 5_000, 'bob to see ann online', seen);
  return { ann, a, b, seen };
}

const FORGET_TIMEOUT_MS = 12_000; // 6 s of silence, a presence flush, and slack for a busy machine

test('users of a killed node go offline for the rest of the cluster, and come back', async (t) => {
  await withCluster({ nodes: 2 }, async (cluster) => {
    const [node1] = cluster.nodes;
    const { ann, a, b, seen } = await annOnNode1BobOnNode2(cluster);

    await cluster.kill9(node1);
    const killed = Date.now();
    await waitUntil(() => presenceOf(b, ann.id) === 'offline', FORGET_TIMEOUT_MS, 'bob to see ann offline after node1 died', seen);
    const tookMs = Date.now() - killed;

    await cluster.restart(node1);
    const a2 = await WsClient.open(node1, ann.token);
    await waitUntil(() => presenceOf(b, ann.id) === 'online', 5_000, 'bob to see ann online again', seen);
    await a2.close();
    await b.close();
    a.terminate();
    t.diagnostic(`ann offline for bob ${tookMs} ms after the kill`);
  });
});

test('a node restarted before the others forgot it takes back what it said about its users', async (t) => {
  await withCluster({ nodes: 2 }, async (cluster) => {
    const [node1] = cluster.nodes;
    const { ann, a, b, seen } = await annOnNode1BobOnNode2(cluster);

    // Back under the same node id well within the 6 s after which node2 would forget it:
    // node2 never stops hearing "node1", so only node1 itself can say ann is gone.
    await cluster.kill9(node1);
    await cluster.restart(node1);
    const restarted = Date.now();
    await waitUntil(() => presenceOf(b, ann.id) === 'offline', 8_000, 'bob to see ann offline after node1 restarted without her', seen);
    t.diagnostic(`ann offline for bob ${Date.now() - restarted} ms after node1 was back`);
    await b.close();
    a.terminate();
  });
});
