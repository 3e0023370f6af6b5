// Restart nats-server under load: while messages flow between senders and receivers on
// both nodes, nats-server stops for two seconds (sends go on; the nodes cannot publish or
// hear each other's events meanwhile) and starts again on the same port. Every
// acknowledged message must reach every client on every node within a few seconds, exactly
// once and without a gap in anyone's stream: the nodes recover what they missed.
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { withCluster } from './lib/cluster.mjs';
import { startLoad } from './lib/load.mjs';

test('a nats-server restart under load loses and doubles nothing', async (t) => {
  await withCluster({ nodes: 2 }, async (cluster) => {
    const load = await startLoad(cluster, {
      senders: { snd1: 0, snd2: 0, snd3: 1, snd4: 1 },
      receivers: { rcv1: 0, rcv2: 1 },
    });
    try {
      load.startSending(30);
      await delay(1_500);
      await cluster.stopNats();
      const before = load.acked;
      await delay(2_000);
      const during = load.acked - before;
      await cluster.startNats();
      await delay(1_500);
      load.stopSending();
      const last = await load.settle({ deliverTimeoutMs: 15_000 });
      const { messages } = await load.verify({ order: true });
      t.diagnostic(`${messages} messages, ${last} events; ${during} acknowledged while nats-server was down`);
    } finally {
      await load.stop();
    }
  });
});
