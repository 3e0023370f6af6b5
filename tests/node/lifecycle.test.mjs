// Process lifecycle: acknowledged sends survive kill -9, and SIGTERM closes clients with
// 1001 and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './lib/server.mjs';
import { WsClient, newUser, login, fullHistory } from './lib/client.mjs';
import { assertAck, assertClean, assertGapless, assertMessageEvent } from './lib/assertions.mjs';

test('crash durability: 200 pipelined, acknowledged sends survive kill -9 exactly once', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const a = await WsClient.open(srv, ann.token);
  t.after(() => a.terminate());
  const conv = (await a.call('conv.create', { kind: 'direct', peer: 'bob' })).conversation.id;

  const N = 200;
  const texts = Array.from({ length: N }, (_, i) => `durable message ${i}`);
  const acks = await Promise.all(
    texts.map((text, i) => a.call('send', { conv, client_msg_id: `d-${i}`, text }, { timeoutMs: 15_000 })),
  );
  acks.forEach((ack, i) => assertAck(ack, { conv, cmid: `d-${i}` }));
  // One connection's sends are committed in order: seqs 2..201 in send order.
  assert.deepEqual(
    acks.map((x) => x.seq),
    Array.from({ length: N }, (_, i) => i + 2),
  );
  assertClean(a, 'ann');

  await srv.kill9();
  assert.equal(srv.lastExit.signal, 'SIGKILL');
  await a.waitClosed();
  const port = srv.port;
  await srv.restart();
  assert.equal(srv.port, port, 'restarted on the same port');

  const expected = new Map(acks.map((ack, i) => [ack.seq, { ack, sender: ann.id, text: texts[i], cmid: `d-${i}` }]));
  const check = (events, who) => {
    assertGapless(events, conv, 1, who);
    assert.equal(events.length, N + 1, `${who}: conversation.created and ${N} messages, each once`);
    assert.equal(events[0].type, 'conversation.created');
    events.slice(1).forEach((ev) => assertMessageEvent(ev, expected.get(ev.seq)));
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, `${who}: event ids are unique`);
  };

  // A fresh client over WebSocket (bob's token survived the crash), paging back with `before`.
  const b = await WsClient.open(srv, bob.token, { sync: false });
  t.after(() => b.terminate());
  const viaWs = [];
  let page = await b.call('history', { conv, limit: 37 });
  for (;;) {
    viaWs.unshift(...page.events);
    assert.equal(page.last_seq, N + 1);
    if (!page.has_more) break;
    page = await b.call('history', { conv, before: page.events[0].seq, limit: 37 });
  }
  check(viaWs, 'history over WebSocket');

  // A fresh login over REST, paging forward with `after`.
  const fresh = await login(srv, 'ann');
  check(await fullHistory(srv, fresh.token, conv, { limit: 45 }), 'history over REST');

  // The keys are still taken after the restart: resending gives the original acks.
  const a2 = await WsClient.open(srv, fresh.token, { sync: false });
  t.after(() => a2.terminate());
  const resent = await Promise.all(
    texts.map((text, i) => a2.call('send', { conv, client_msg_id: `d-${i}`, text }, { timeoutMs: 15_000 })),
  );
  resent.forEach((r, i) => {
    assert.equal(r.duplicate, true, `d-${i} is a duplicate after the restart`);
    for (const k of ['seq', 'id', 'ts']) assert.equal(r[k], acks[i][k], `d-${i} ${k}`);
  });
  check(await fullHistory(srv, fresh.token, conv), 'history after the resend');
  assertClean(b, 'bob');
  assertClean(a2, 'ann (after restart)');
});

test('graceful shutdown: SIGTERM closes connected clients with 1001 and exits 0', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  await newUser(srv, 'bob');
  const synced = await WsClient.open(srv, ann.token);
  t.after(() => synced.terminate());
  const idle = await WsClient.connect(srv); // connected, not yet authenticated
  t.after(() => idle.terminate());

  const conv = (await synced.call('conv.create', { kind: 'direct', peer: 'bob' })).conversation.id;
  const ack = await synced.call('send', { conv, client_msg_id: 'before-term', text: 'still here after restart' });
  await synced.nextEvents(2);

  const [code, closedSynced, closedIdle] = await Promise.all([
    srv.stop(),
    synced.waitClosed({ timeoutMs: 10_000 }),
    idle.waitClosed({ timeoutMs: 10_000 }),
  ]);
  assert.equal(closedSynced.code, 1001, `synced client close code (reason ${closedSynced.reason})`);
  assert.equal(closedIdle.code, 1001, `unauthenticated client close code (reason ${closedIdle.reason})`);
  assert.equal(code, 0, 'exit code after SIGTERM');
  assert.equal(srv.lastExit.signal, null);
  assertClean(synced, 'ann');

  // It comes back with the data.
  await srv.restart();
  const c = await WsClient.open(srv, ann.token, { since: { [conv]: 1 } });
  t.after(() => c.terminate());
  const [ev] = await c.nextEvents(1);
  assertMessageEvent(ev, { ack, sender: ann.id, text: 'still here after restart', cmid: 'before-term' });
  await c.expectQuiet(200);
});
