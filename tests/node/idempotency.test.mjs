// Idempotent send: a client_msg_id is stored once per sender, whether the retry comes over the
// same socket, pipelined, or across WebSocket and REST.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './lib/server.mjs';
import { WsClient, newUser, rest, restOk, fullHistory } from './lib/client.mjs';
import { assertAck, assertClean, assertGapless, assertMessageEvent } from './lib/assertions.mjs';

function sameAck(dup, orig) {
  assert.equal(dup.duplicate, true, 'the retry is flagged duplicate');
  assert.equal(orig.duplicate, false, 'the first send is not a duplicate');
  for (const k of ['conv', 'seq', 'id', 'ts', 'client_msg_id']) assert.equal(dup[k], orig[k], `duplicate ack keeps ${k}`);
}

test('idempotent send: the same client_msg_id twice (WS/WS, pipelined, REST/WS, WS/REST) stores one message', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const a = await WsClient.open(srv, ann.token);
  t.after(() => a.terminate());
  const b = await WsClient.open(srv, bob.token);
  t.after(() => b.terminate());

  const conv = (await a.call('conv.create', { kind: 'direct', peer: 'bob' })).conversation.id;
  await a.nextEvents(1);
  await b.nextEvents(1);

  // WS then WS, the second with another text: the original ack, nothing stored.
  const first = await a.call('send', { conv, client_msg_id: 'k-1', text: 'hello' });
  assertAck(first, { conv, cmid: 'k-1' });
  const retry = await a.call('send', { conv, client_msg_id: 'k-1', text: 'hello (edited retry)' });
  sameAck(retry, first);

  // Pipelined: both in flight at once.
  const [p1, p2] = await Promise.all([
    a.call('send', { conv, client_msg_id: 'k-2', text: 'pipelined' }),
    a.call('send', { conv, client_msg_id: 'k-2', text: 'pipelined' }),
  ]);
  sameAck(p2, p1);

  // REST first, then WS.
  const viaRest = await restOk(srv, 'POST', `/v1/conversations/${conv}/messages`, {
    token: ann.token,
    body: { client_msg_id: 'k-3', text: 'over rest' },
  });
  assertAck(viaRest, { conv, cmid: 'k-3' });
  const viaWs = await a.call('send', { conv, client_msg_id: 'k-3', text: 'over rest' });
  sameAck(viaWs, viaRest);

  // WS first, then REST (from another device of the same user: the key is per sender).
  const second = await restOk(srv, 'POST', '/v1/login', { body: { handle: 'ann', password: 'correct horse battery' } });
  const restRetry = await restOk(srv, 'POST', `/v1/conversations/${conv}/messages`, {
    token: second.token,
    body: { client_msg_id: 'k-1', text: 'hello' },
  });
  sameAck(restRetry, first);

  // The key belongs to the sender: bob may use the same key for his own message.
  const bobs = await b.call('send', { conv, client_msg_id: 'k-1', text: 'bob uses k-1 too' });
  assertAck(bobs, { conv, cmid: 'k-1' });
  assert.notEqual(bobs.seq, first.seq);

  // Reusing a key for another conversation is a conflict.
  const group = (await a.call('conv.create', { kind: 'group', title: 'other' })).conversation.id;
  const reused = await a.request({ op: 'send', conv: group, client_msg_id: 'k-1', text: 'hello' });
  assert.equal(reused.error?.code, 'conflict', JSON.stringify(reused));
  const reusedRest = await rest(srv, 'POST', `/v1/conversations/${group}/messages`, {
    token: ann.token,
    body: { client_msg_id: 'k-3', text: 'x' },
  });
  assert.equal(reusedRest.status, 409);
  assert.equal(reusedRest.body?.error?.code, 'conflict');

  // History has each message exactly once: created, k-1, k-2, k-3 (ann), k-1 (bob).
  const history = await fullHistory(srv, bob.token, conv);
  assertGapless(history, conv, 1, 'history');
  assert.equal(history.length, 5);
  assertMessageEvent(history[1], { ack: first, sender: ann.id, text: 'hello', cmid: 'k-1' });
  assertMessageEvent(history[2], { ack: p1, sender: ann.id, text: 'pipelined', cmid: 'k-2' });
  assertMessageEvent(history[3], { ack: viaRest, sender: ann.id, text: 'over rest', cmid: 'k-3' });
  assertMessageEvent(history[4], { ack: bobs, sender: bob.id, text: 'bob uses k-1 too', cmid: 'k-1' });

  // Live delivery saw each stored message once, and nothing for the retries.
  for (const [name, c] of [['ann', a], ['bob', b]]) {
    const evs = await c.nextEvents(4);
    assert.deepEqual(evs, history.slice(1), `${name} live events`);
  }
  // ann also gets the new group's creation; nothing else.
  const [g] = await a.nextEvents(1);
  assert.equal(g.conv, group);
  assert.equal(g.type, 'conversation.created');
  for (const [name, c] of [['ann', a], ['bob', b]]) {
    await c.expectQuiet(200);
    assertClean(c, name);
  }
});
