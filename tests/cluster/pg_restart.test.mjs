// Restart PostgreSQL under load: senders on both nodes keep sending while PostgreSQL stops
// (fast shutdown: the nodes' sessions are cut), stays down for 1.5 s and starts again on the
// same port and data. Sends meanwhile may fail or time out; the clients retry with the same
// client_msg_id. Afterwards both nodes still run and serve, nothing acknowledged is lost,
// nothing is stored twice, seqs are gapless, and every client's stream is the log. (A
// sender's order may change around a failed send: docs/sdk.md, "Transient errors".)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { restOk } from '../node/lib/client.mjs';
import { withCluster } from './lib/cluster.mjs';
import { startLoad } from './lib/load.mjs';

test('a PostgreSQL restart under load loses and doubles nothing', async (t) => {
  await withCluster({ nodes: 2 }, async (cluster) => {
    const load = await startLoad(cluster, {
      senders: { snd1: 0, snd2: 0, snd3: 1, snd4: 1 },
      receivers: { rcv1: 0, rcv2: 1 },
    });
    try {
      load.startSending(30);
      await delay(1_500);
      await cluster.restartPostgres({ downMs: 1_500 });
      await delay(1_500);
      load.stopSending();
      const last = await load.settle({ ackTimeoutMs: 30_000, deliverTimeoutMs: 15_000 });
      for (const node of cluster.nodes) {
        assert.ok(node.running, `${node.name} survived the restart; log:\n${node.logTail()}`);
        assert.equal((await restOk(node, 'GET', '/healthz')).status, 'ok');
      }
      const { messages } = await load.verify({ order: false });
      const reconnects = load.clients.reduce((n, c) => n + c.connects.length - 1, 0);
      t.diagnostic(`${messages} messages, ${last} events; ${reconnects} reconnects, ${load.duplicates} resends already stored`);
    } finally {
      await load.stop();
    }
  });
});
