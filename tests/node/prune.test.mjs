// History pruned offline with `parley prune`: sync says so with a history_pruned notice,
// history starts at first_seq, and client_msg_id keys stay unique "forever".
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './lib/server.mjs';
import { WsClient, newUser } from './lib/client.mjs';
import { assertAck, assertClean, assertGapless } from './lib/assertions.mjs';

// ann and bob with a direct conversation of 1 + n events; returns the acks by key.
async function chatThenPrune(t, srv, n, before) {
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const a = await WsClient.open(srv, ann.token, { sync: false });
  t.after(() => a.terminate());
  const conv = (await a.call('conv.create', { kind: 'direct', peer: 'bob' })).conversation.id;
  const acks = [];
  for (let i = 0; i < n; i++) {
    const ack = await a.call('send', { conv, client_msg_id: `k-${i}`, text: `text ${i}` });
    assertAck(ack, { conv, cmid: `k-${i}` });
    acks.push(ack);
  }
  assert.equal(await srv.stop(), 0);
  const r = await srv.runCli(['prune', '--data-dir', srv.dataDir, '--conv', String(conv), '--before', String(before)]);
  assert.equal(r.code, 0, `parley prune failed: ${r.stderr}`);
  assert.match(r.stdout, new RegExp(`now starts at seq ${before}`));
  await srv.restart();
  return { ann, bob, conv, acks };
}

test('after parley prune, sync announces history_pruned before replaying what remains', async (t) => {
  const srv = await startServer(t);
  const { ann, bob, conv } = await chatThenPrune(t, srv, 9, 6); // seqs 1..10, 1..5 pruned

  // Resume from seq 2: seqs 3..5 are gone, announced first; then 6..10; then the reply.
  const b = await WsClient.connect(srv, { token: bob.token });
  t.after(() => b.terminate());
  const reply = await b.request({ op: 'sync', since: { [conv]: 2 } });
  assert.deepEqual(reply.result?.positions, { [conv]: 10 }, JSON.stringify(reply));
  const kinds = b.frames.map((f) => (f.notice ? 'notice' : f.ev ? `ev${f.ev.seq}` : 'reply'));
  assert.deepEqual(kinds, ['notice', 'ev6', 'ev7', 'ev8', 'ev9', 'ev10', 'reply']);
  assert.deepEqual(b.notices, [{ notice: 'history_pruned', conv, from_seq: 3, to_seq: 5 }]);
  assertGapless(await b.nextEvents(5), conv, 6);

  // A device new to the conversation: everything from joined_seq 1 is asked for.
  const a = await WsClient.open(srv, ann.token, { since: {} });
  t.after(() => a.terminate());
  assert.deepEqual(a.notices, [{ notice: 'history_pruned', conv, from_seq: 1, to_seq: 5 }]);
  assertGapless(await a.nextEvents(5), conv, 6);

  // History starts at first_seq.
  const newest = await b.call('history', { conv, limit: 3 });
  assert.deepEqual([newest.first_seq, newest.last_seq, newest.has_more], [6, 10, true]);
  const oldest = await b.call('history', { conv, before: 8, limit: 5 });
  assert.deepEqual(oldest.events.map((e) => e.seq), [6, 7]);
  assert.equal(oldest.has_more, false);
  for (const c of [a, b]) {
    await c.expectQuiet(200);
    assertClean(c);
  }
});

// docs/protocol.md, Sending: "the pair (sender, client_msg_id) is unique forever, across
// reconnects and server restarts. Sending again with a key already used returns the
// original acknowledgement with "duplicate":true and stores nothing."
test('a client_msg_id stays taken after its event was pruned (no second copy is stored)', async (t) => {
  const srv = await startServer(t);
  const { ann, conv, acks } = await chatThenPrune(t, srv, 4, 4); // k-0 (seq 2) and k-1 (seq 3) pruned

  const a = await WsClient.open(srv, ann.token, { sync: false });
  t.after(() => a.terminate());
  // A key whose event is still stored: the original ack.
  const kept = await a.call('send', { conv, client_msg_id: 'k-3', text: 'text 3' });
  assert.equal(kept.duplicate, true);
  assert.equal(kept.seq, acks[3].seq);
  // A key whose event was pruned: still the original ack, and nothing new in the log.
  const retry = await a.call('send', { conv, client_msg_id: 'k-0', text: 'text 0' });
  const after = await a.call('history', { conv });
  assert.deepEqual(
    { duplicate: retry.duplicate, seq: retry.seq, id: retry.id, last_seq: after.last_seq },
    { duplicate: true, seq: acks[0].seq, id: acks[0].id, last_seq: 5 },
    `resending a pruned key stored a new message: ${JSON.stringify(retry)}`,
  );
});
