// kill -9 a node under load: senders on node1 and node2 send continuously (SDK-like
// clients: client_msg_ids, a window of sends in flight, everything unacknowledged resent
// after a reconnect); node1 is killed with SIGKILL mid-run, right after a burst of sends
// there, its clients reconnect to node2 and resend. Afterwards every message transmitted is in the log exactly once, seqs are
// gapless, every client (receivers on both nodes too) got exactly the log, without gap or
// duplicate across its reconnects, and node1, restarted, serves the same log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { withCluster } from './lib/cluster.mjs';
import { startLoad } from './lib/load.mjs';

const KILL_AFTER_BURST_MS = 5;

test('kill -9 of a node under load loses and doubles nothing', async (t) => {
  await withCluster({ nodes: 2 }, async (cluster) => {
    const [node1] = cluster.nodes;
    const load = await startLoad(cluster, {
      senders: { snd1: 0, snd2: 0, snd3: 1, snd4: 1 },
      receivers: { rcv1: 0, rcv2: 1 },
    });
    const onNode1 = load.clients.filter((c) => c.node === node1);
    try {
      load.startSending(30);
      await delay(1_500);
      // A burst on node1 just before the kill: some of it is in flight (stored or not, its
      // acknowledgement lost) when the node dies.
      load.burst(20, load.senders.filter((s) => s.node === node1));
      await delay(KILL_AFTER_BURST_MS);
      await cluster.kill9(node1);
      await delay(2_000);
      load.stopSending();
      const last = await load.settle();
      for (const c of onNode1) {
        assert.equal(c.connects[0], 'node1');
        assert.ok(c.connects.slice(1).includes('node2'), `${c.name} moved to node2: ${c.connects.join('>')}`);
      }
      await cluster.restart(node1);
      const { messages } = await load.verify({ order: true });
      t.diagnostic(`${messages} messages, ${last} events; ${load.duplicates} resends were already stored`);
    } finally {
      await load.stop();
    }
  });
});
