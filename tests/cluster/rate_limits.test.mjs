// Rate limits hold for the cluster as a whole: a user who spent the write burst on node1
// is refused on node2 too (the nodes debit each other's buckets over the bus, every 100 ms),
// and is let through again on node2 once the bucket refilled. Limits here: a burst of 10
// writes and 1 per second.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { newUser, rest, restOk } from '../node/lib/client.mjs';
import { withCluster } from './lib/cluster.mjs';

const BURST = 10;

test('a user who spent the write burst on one node is limited on the other', async () => {
  const extraArgs = ['--set', `rate.write_burst=${BURST}`, '--set', 'rate.write_per_s=1'];
  await withCluster({ nodes: 2, extraArgs }, async (cluster) => {
    const [node1, node2] = cluster.nodes;
    const ann = await newUser(node1, 'ann');
    await newUser(node1, 'bob');
    const { conversation } = await restOk(node1, 'POST', '/v1/conversations', { token: ann.token, body: { kind: 'direct', peer: 'bob' } });
    const send = (node, cmid) =>
      rest(node, 'POST', `/v1/conversations/${conversation.id}/messages`, { token: ann.token, body: { client_msg_id: cmid, text: cmid } });

    for (let i = 1; i <= BURST; i++) assert.equal((await send(node1, `n1-${i}`)).status, 200, `send ${i} of the burst on node1`);
    await delay(500); // node1's batch reaches node2
    const refused = await send(node2, 'n2-1');
    assert.equal(refused.status, 429, `node2 refuses once node1 spent the burst: ${refused.text}`);
    assert.equal(refused.body.error.code, 'rate_limited');
    assert.ok(refused.body.error.retry_after_ms > 0);

    await delay(refused.body.error.retry_after_ms + 200);
    assert.equal((await send(node2, 'n2-1')).status, 200, 'node2 accepts after the refill');
  });
});
