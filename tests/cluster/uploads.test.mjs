// Uploads across nodes: the nodes share one uploads directory (store.uploads_dir) and the
// database, so a file uploaded to node1 can be attached to a message sent on node2 and
// downloaded, byte for byte, from either node by a member; a non-member gets 404 on both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { newUser, restOk } from '../node/lib/client.mjs';
import { withCluster } from './lib/cluster.mjs';

async function download(node, token, id) {
  const res = await fetch(`${node.baseUrl}/v1/uploads/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

test('a file uploaded to one node is attached on another and downloaded from both', async () => {
  await withCluster({ nodes: 2 }, async (cluster) => {
    const [node1, node2] = cluster.nodes;
    const ann = await newUser(node1, 'ann');
    const bob = await newUser(node2, 'bob');
    const eve = await newUser(node2, 'eve');
    const { conversation } = await restOk(node1, 'POST', '/v1/conversations', { token: ann.token, body: { kind: 'direct', peer: 'bob' } });

    const bytes = randomBytes(200_000);
    const res = await fetch(`${node1.baseUrl}/v1/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${ann.token}` }, body: bytes });
    assert.equal(res.status, 200);
    const { upload } = await res.json();
    assert.equal(upload.size, bytes.length);

    const sent = await restOk(node2, 'POST', `/v1/conversations/${conversation.id}/messages`, {
      token: ann.token,
      body: { client_msg_id: 'with-file', attachments: [{ id: upload.id, name: 'blob.bin' }] },
    });
    const page = await restOk(node1, 'GET', `/v1/conversations/${conversation.id}/events?after=${sent.seq - 1}`, { token: bob.token });
    assert.equal(page.events[0].data.attachments[0].id, upload.id);

    for (const node of [node1, node2]) {
      const got = await download(node, bob.token, upload.id);
      assert.equal(got.status, 200, `bob downloads from ${node.name}`);
      assert.ok(got.body.equals(bytes), `the bytes from ${node.name} are the upload`);
      assert.equal((await download(node, eve.token, upload.id)).status, 404, `eve gets nothing from ${node.name}`);
    }
  });
});
