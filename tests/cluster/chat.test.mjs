// Users on different nodes chat: ann on node1 and bob on node2, one connection each for the
// whole test (no reconnect), see each other's messages live and in the same order, and each
// other's delivery and read receipts, typing and presence (online while connected, offline
// within a few seconds of the disconnect). Live delivery across nodes is the bus's work
// (cluster.nats_url); the database alone does not carry it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WsClient, newUser, fullHistory, restOk } from '../node/lib/client.mjs';
import { withCluster } from './lib/cluster.mjs';
import { presenceOf } from './lib/presence.mjs';
import { waitUntil } from './lib/resilient_client.mjs';

const NOTICE_TIMEOUT_MS = 5_000;

// Waits for a state notice after index `from` that satisfies pred.
async function awaitNotice(client, from, pred, what) {
  let found;
  await waitUntil(
    () => (found = client.stateNotices.slice(from).find(pred)) !== undefined,
    NOTICE_TIMEOUT_MS,
    what,
    () => `; state notices: ${JSON.stringify(client.stateNotices.slice(from)).slice(0, 600)}`,
  );
  return found;
}

test('users on different nodes chat live, with receipts, typing and presence', async () => {
  await withCluster({ nodes: 2 }, async (cluster) => {
    const [node1, node2] = cluster.nodes;
    const ann = await newUser(node1, 'ann');
    const bob = await newUser(node2, 'bob');
    const { conversation } = await restOk(node1, 'POST', '/v1/conversations', {
      token: ann.token,
      body: { kind: 'direct', peer: 'bob' },
    });
    const conv = conversation.id;
    let last = conversation.last_seq;

    const a = await WsClient.open(node1, ann.token, { since: { [conv]: 0 } });
    const b = await WsClient.open(node2, bob.token, { since: { [conv]: 0 } });
    await a.nextEvents(last);
    await b.nextEvents(last);

    // Presence both ways while both are connected.
    await waitUntil(() => presenceOf(b, ann.id) === 'online', NOTICE_TIMEOUT_MS, 'bob (node2) to see ann (node1) online', () => `; ${JSON.stringify(b.stateNotices)}`);
    await waitUntil(() => presenceOf(a, bob.id) === 'online', NOTICE_TIMEOUT_MS, 'ann (node1) to see bob (node2) online', () => `; ${JSON.stringify(a.stateNotices)}`);
    const got = await b.call('presence.get');
    assert.equal(got.presence.find((p) => p.user === ann.id)?.state, 'online', 'presence.get on node2 says ann is online');

    // Both send at once, five each: both see all ten, in the same order, each sender's own
    // in the order sent.
    const sends = [];
    for (let i = 1; i <= 5; i++) {
      sends.push(a.call('send', { conv, client_msg_id: `a-${i}`, text: `ann ${i}` }));
      sends.push(b.call('send', { conv, client_msg_id: `b-${i}`, text: `bob ${i}` }));
    }
    const acks = await Promise.all(sends);
    const seenA = await a.nextEvents(10);
    const seenB = await b.nextEvents(10);
    assert.deepEqual(seenA.map((e) => e.seq), Array.from({ length: 10 }, (_, i) => last + 1 + i), 'ann gets seqs in order, no gap');
    assert.deepEqual(seenB, seenA, 'bob gets the same events in the same order');
    const cmids = seenA.map((e) => e.client_msg_id);
    assert.deepEqual(cmids.filter((c) => c.startsWith('a-')), ['a-1', 'a-2', 'a-3', 'a-4', 'a-5']);
    assert.deepEqual(cmids.filter((c) => c.startsWith('b-')), ['b-1', 'b-2', 'b-3', 'b-4', 'b-5']);
    for (const ack of acks) assert.equal(seenA.find((e) => e.client_msg_id === ack.client_msg_id).seq, ack.seq);
    assert.deepEqual((await fullHistory(node2, bob.token, conv)).slice(last), seenA, 'the log agrees');
    last += 10;

    // Receipts: one message from each side that only the other can acknowledge and read.
    const receiptsFor = async (reader, readerNode, writer, writerUser, readerUser, cmid) => {
      const r = await writer.call('send', { conv, client_msg_id: cmid, text: cmid });
      const [ev] = await reader.nextEvents(1);
      assert.equal(ev.seq, r.seq);
      await writer.nextEvents(1); // its own copy
      const from = writer.stateNotices.length;
      await reader.call('ack', { positions: { [conv]: r.seq } });
      await awaitNotice(
        writer,
        from,
        (n) => n.notice === 'receipts' && n.conv === conv && n.delivered?.[String(readerUser.id)] >= r.seq,
        `${writerUser.handle} to see ${readerUser.handle}'s delivered receipt for seq ${r.seq}`,
      );
      await reader.call('read', { conv, seq: r.seq });
      await awaitNotice(
        writer,
        from,
        (n) => n.notice === 'receipts' && n.conv === conv && n.read?.[String(readerUser.id)] >= r.seq,
        `${writerUser.handle} to see ${readerUser.handle}'s read receipt for seq ${r.seq}`,
      );
      const listed = await writer.call('receipts', { conv });
      const entry = listed.receipts.find((x) => x.user === readerUser.id);
      assert.ok(entry && entry.delivered >= r.seq && entry.read >= r.seq, `receipts lists ${JSON.stringify(entry)}`);
    };
    await receiptsFor(b, node2, a, ann, bob, 'a-receipt');
    await receiptsFor(a, node1, b, bob, ann, 'b-receipt');

    // Typing both ways: start, then stop.
    for (const [typist, typistUser, watcher] of [
      [a, ann, b],
      [b, bob, a],
    ]) {
      let from = watcher.stateNotices.length;
      await typist.call('typing', { conv, typing: true });
      await awaitNotice(watcher, from, (n) => n.notice === 'typing' && n.conv === conv && n.user === typistUser.id && n.typing === true, `${typistUser.handle} typing`);
      from = watcher.stateNotices.length;
      await typist.call('typing', { conv, typing: false });
      await awaitNotice(watcher, from, (n) => n.notice === 'typing' && n.conv === conv && n.user === typistUser.id && n.typing === false, `${typistUser.handle} stopped typing`);
    }

    // ann leaves node1: bob sees her offline.
    await a.close();
    await waitUntil(() => presenceOf(b, ann.id) === 'offline', NOTICE_TIMEOUT_MS, 'bob (node2) to see ann offline', () => `; ${JSON.stringify(b.stateNotices.slice(-5))}`);
    const after = await b.call('presence.get');
    assert.equal(after.presence.find((p) => p.user === ann.id)?.state, 'offline');

    assert.equal(b.closeInfo, null, 'bob stayed connected throughout');
    assert.deepEqual(a.problems, []);
    assert.deepEqual(b.problems, []);
    await b.close();
  });
});
