// Live delivery and resume against the real server: a direct conversation both ways, a group
// with a multi-device user, and an offline member catching up with `sync` + `since`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './lib/server.mjs';
import { WsClient, newUser, login } from './lib/client.mjs';
import { assertAck, assertClean, assertGapless, assertMessageEvent } from './lib/assertions.mjs';

// Opens a client and makes sure it is gone when the test ends.
async function open(t, srv, token, opts) {
  const c = await WsClient.open(srv, token, opts);
  t.after(() => c.terminate());
  return c;
}

test('direct conversation: two users exchange messages both ways, each exactly once and in order', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');

  // ann authenticates with an `auth` first frame ...
  const a = await WsClient.connect(srv);
  t.after(() => a.terminate());
  const authed = await a.call('auth', { token: ann.token });
  assert.deepEqual(authed.user, { id: ann.id, handle: 'ann' });
  assert.equal(authed.device, ann.device);
  // ... bob with the Authorization header (so a second auth is a conflict).
  const b = await WsClient.connect(srv, { token: bob.token });
  t.after(() => b.terminate());
  const reauth = await b.request({ op: 'auth', token: bob.token });
  assert.equal(reauth.error?.code, 'conflict');

  // Live-only sync: no conversations yet.
  assert.deepEqual((await a.call('sync')).positions, {});
  assert.deepEqual((await b.call('sync')).positions, {});

  const created = await a.call('conv.create', { kind: 'direct', peer: 'BOB' });
  const conv = created.conversation.id;
  assert.equal(created.conversation.kind, 'direct');
  assert.deepEqual(
    created.conversation.members.map((m) => m.handle).sort(),
    ['ann', 'bob'],
  );
  // Both are delivered the new conversation from its start (it was joined after sync).
  const [ca] = await a.nextEvents(1);
  const [cb] = await b.nextEvents(1);
  assert.equal(ca.type, 'conversation.created');
  assert.equal(ca.seq, 1);
  assert.equal(ca.conv, conv);
  assert.equal(ca.sender, ann.id);
  assert.equal(ca.data.kind, 'direct');
  assert.deepEqual(cb, ca);
  // Creating it again, from the other side, returns the same conversation and no event.
  const again = await b.call('conv.create', { kind: 'direct', peer: 'ann' });
  assert.equal(again.conversation.id, conv);

  const sent = []; // {ack, sender, text, cmid}
  const send = async (client, user, cmid, text) => {
    const ack = await client.call('send', { conv, client_msg_id: cmid, text });
    assertAck(ack, { conv, cmid });
    sent.push({ ack, sender: user.id, text, cmid });
    return ack;
  };
  // Turns: one waits for the other's ack.
  for (let i = 0; i < 5; i++) {
    await send(a, ann, `a-${i}`, `hello bob ${i}`);
    await send(b, bob, `b-${i}`, `hi ann ${i}\nsecond line\twith a tab`);
  }
  // Then both at once, pipelined.
  const burstA = [];
  const burstB = [];
  for (let i = 5; i < 15; i++) {
    burstA.push(send(a, ann, `a-${i}`, `burst from ann ${i} ✓`));
    burstB.push(send(b, bob, `b-${i}`, `burst from bob ${i} — ok`));
  }
  const [acksA, acksB] = await Promise.all([Promise.all(burstA), Promise.all(burstB)]);
  // Sends on one connection are committed in the order received.
  for (const acks of [acksA, acksB]) {
    for (let i = 1; i < acks.length; i++) assert.ok(acks[i].seq > acks[i - 1].seq, 'per-connection send order');
  }

  sent.sort((x, y) => x.ack.seq - y.ack.seq);
  assert.deepEqual(
    sent.map((s) => s.ack.seq),
    Array.from({ length: 30 }, (_, i) => i + 2),
    'acks cover seqs 2..31',
  );
  for (const [name, client] of [['ann', a], ['bob', b]]) {
    const evs = await client.nextEvents(30);
    assertGapless(evs, conv, 2, `${name} events`);
    evs.forEach((ev, i) => assertMessageEvent(ev, sent[i]));
    await client.expectQuiet(200);
    assertClean(client, name);
  }
});

test('group of five, one user on three devices: all seven connections see one gapless order', async (t) => {
  const srv = await startServer(t);
  const handles = ['ann', 'ben', 'cat', 'dan', 'eve'];
  const users = {};
  for (const h of handles) users[h] = await newUser(srv, h);
  // ann has two more devices (three logins in all).
  const annTokens = [users.ann.token, (await login(srv, 'ann')).token, (await login(srv, 'ann')).token];
  assert.equal(new Set(annTokens).size, 3);

  const conns = [];
  for (const tok of annTokens) conns.push({ name: 'ann', user: users.ann, c: await open(t, srv, tok) });
  for (const h of handles.slice(1)) conns.push({ name: h, user: users[h], c: await open(t, srv, users[h].token) });
  assert.equal(conns.length, 7);

  const created = await conns[1].c.call('conv.create', {
    kind: 'group',
    title: 'five',
    members: ['ben', 'cat', 'dan', 'eve'],
  });
  const conv = created.conversation.id;
  assert.equal(created.conversation.role, 'owner');
  assert.equal(created.conversation.members.length, 5);

  // Senders: two of ann's devices, ben, dan and eve; 8 pipelined messages each.
  const senders = [conns[0], conns[2], conns[3], conns[5], conns[6]];
  const perSender = 8;
  const expected = new Map(); // seq -> {ack, sender, text, cmid}
  const bursts = senders.map(async (s, si) => {
    const acks = await Promise.all(
      Array.from({ length: perSender }, (_, i) => {
        const cmid = `s${si}-${i}`;
        const text = `${s.name}#${si} says ${i}`;
        return s.c.call('send', { conv, client_msg_id: cmid, text }).then((ack) => {
          assertAck(ack, { conv, cmid });
          expected.set(ack.seq, { ack, sender: s.user.id, text, cmid });
          return ack;
        });
      }),
    );
    for (let i = 1; i < acks.length; i++) assert.ok(acks[i].seq > acks[i - 1].seq, 'per-connection send order');
  });
  await Promise.all(bursts);
  const total = senders.length * perSender;
  assert.equal(expected.size, total, 'every ack has its own seq');

  let reference = null;
  for (const { name, c } of conns) {
    const evs = await c.nextEvents(1 + total);
    assertGapless(evs, conv, 1, `${name} events`);
    assert.equal(evs[0].type, 'conversation.created');
    assert.deepEqual(evs[0].data.members.map((m) => m.handle).sort(), handles);
    evs.slice(1).forEach((ev) => assertMessageEvent(ev, expected.get(ev.seq)));
    if (reference) assert.deepEqual(evs, reference, `${name} sees the same log`);
    else reference = evs;
  }
  await Promise.all(conns.map(({ c }) => c.expectQuiet(200)));
  for (const { name, c } of conns) assertClean(c, name);
});

// Run with the default replay batch and with a tiny one, so catch-up takes many rounds.
for (const [label, extraArgs] of [
  ['default replay batch', []],
  ['replay batch of 3', ['--set', 'limits.replay_batch=3']],
]) {
  test(`offline member catches up with sync since, then continues live without gap or duplicate (${label})`, async (t) => {
    const srv = await startServer(t, { extraArgs });
    const ann = await newUser(srv, 'ann');
    const bob = await newUser(srv, 'bob');
    const cat = await newUser(srv, 'cat');
    const b = await open(t, srv, bob.token);
    const c = await open(t, srv, cat.token);
    let a = await open(t, srv, ann.token);

    const conv = (await b.call('conv.create', { kind: 'group', title: 'resume', members: ['ann', 'cat'] })).conversation.id;
    const expected = new Map(); // seq -> expected message
    const sendFrom = async (client, user, cmid, text) => {
      const ack = await client.call('send', { conv, client_msg_id: cmid, text });
      assertAck(ack, { conv, cmid });
      expected.set(ack.seq, { ack, sender: user.id, text, cmid });
      return ack;
    };
    const burst = (client, user, prefix, n) =>
      Promise.all(Array.from({ length: n }, (_, i) => sendFrom(client, user, `${prefix}-${i}`, `${prefix} message ${i}`)));

    for (let i = 0; i < 5; i++) await sendFrom(b, bob, `pre-${i}`, `before the drop ${i}`);
    const seen = await a.nextEvents(6);
    assertGapless(seen, conv, 1, 'ann before the drop');
    const S = seen[seen.length - 1].seq;
    assert.equal(S, 6);
    await a.close();

    // 20 messages while ann is away.
    await Promise.all([burst(b, bob, 'b-off', 10), burst(c, cat, 'c-off', 10)]);

    a = await WsClient.connect(srv, { token: ann.token });
    t.after(() => a.terminate());
    const syncReply = await a.request({ op: 'sync', since: { [conv]: S } });
    assert.ok(syncReply.result, `sync failed: ${JSON.stringify(syncReply.error)}`);
    assert.deepEqual(syncReply.result.positions, { [conv]: S + 20 });
    // Every missed event arrived before the reply ...
    const replyAt = a.frames.indexOf(syncReply);
    const evFramesBefore = a.frames.slice(0, replyAt).filter((f) => f.ev);
    assert.equal(evFramesBefore.length, 20, 'missed events precede the sync reply');
    assert.equal(a.frames.length, replyAt + 1, 'nothing after the reply yet');
    const missed = await a.nextEvents(20);
    assertGapless(missed, conv, S + 1, 'replayed');
    missed.forEach((ev) => assertMessageEvent(ev, expected.get(ev.seq)));
    await a.expectQuiet(200);

    // ... and live delivery continues right after.
    await burst(c, cat, 'c-live', 5);
    const live = await a.nextEvents(5);
    assertGapless(live, conv, S + 21, 'live');
    live.forEach((ev) => assertMessageEvent(ev, expected.get(ev.seq)));
    await a.expectQuiet(200);
    assertClean(a, 'ann');

    // The switch from replay to live while messages keep coming: drop again at P, miss 10,
    // then resume while bob pipelines 30 more.
    const P = S + 25;
    a.terminate();
    await a.waitClosed();
    await burst(b, bob, 'b-off2', 10);
    a = await WsClient.connect(srv, { token: ann.token });
    t.after(() => a.terminate());
    // bob sends 30 one after the other; ann's sync goes out after the 5th ack, so replay
    // and live delivery overlap.
    let syncing = null;
    for (let i = 0; i < 30; i++) {
      await sendFrom(b, bob, `b-race-${i}`, `b-race message ${i}`);
      if (i === 4) syncing = a.request({ op: 'sync', since: { [conv]: P } });
    }
    const reply2 = await syncing;
    assert.ok(reply2.result, `sync failed: ${JSON.stringify(reply2.error)}`);
    const reached = reply2.result.positions[conv];
    assert.ok(reached >= P + 10 && reached <= P + 40, `positions ${reached} within [${P + 10}, ${P + 40}]`);
    t.diagnostic(`resume during sends: ${reached - P} events replayed before the sync reply, ${P + 40 - reached} live after it`);
    const all = await a.nextEvents(40);
    assertGapless(all, conv, P + 1, 'replay then live');
    all.forEach((ev) => assertMessageEvent(ev, expected.get(ev.seq)));
    const replyIdx = a.frames.indexOf(reply2);
    for (const f of a.frames) {
      if (!f.ev) continue;
      const idx = a.frames.indexOf(f);
      if (f.ev.seq <= reached) assert.ok(idx < replyIdx, `event ${f.ev.seq} <= positions comes before the reply`);
      else assert.ok(idx > replyIdx, `event ${f.ev.seq} > positions comes after the reply`);
    }
    await a.expectQuiet(200);
    assertClean(a, 'ann');

    // A new device that sends `since` without this conversation gets it from the start.
    const fresh = await open(t, srv, (await login(srv, 'ann')).token, { since: {} });
    const everything = await fresh.nextEvents(1 + expected.size);
    assertGapless(everything, conv, 1, 'new device');
    assert.equal(everything[0].type, 'conversation.created');
    everything.slice(1).forEach((ev) => assertMessageEvent(ev, expected.get(ev.seq)));
    await fresh.expectQuiet(200);
    assertClean(fresh, 'ann (new device)');
  });
}
