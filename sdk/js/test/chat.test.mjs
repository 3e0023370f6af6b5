// Two SDK clients against the real server over WebSocket: chat both ways, send states from
// receipts, typing and presence, the conversation list with unread counts, rich messages
// (quotes, threads, reactions, edits, deletes, attachments, search) and typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ParleyError, login } from '../dist/parley.js';
import { startServer, newUser, newClient, waitFor, texts, seqs, range } from './lib/helpers.mjs';

test('two clients chat both ways: every message once, in order, on both sides', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const a = await newClient(t, srv, ann);
  const b = await newClient(t, srv, bob);
  await waitFor(() => a.c.state === 'online' && b.c.state === 'online', { what: 'online' });
  assert.equal(a.c.transport, 'websocket');
  const conv = (await a.c.createDirect('bob')).id;

  const expected = [];
  for (let i = 0; i < 20; i++) {
    const [who, text] = i % 2 === 0 ? [a, `ann ${i}`] : [b, `bob ${i}`];
    await who.c.send(conv, text);
    expected.push(text);
  }
  await waitFor(() => texts(a.rec, conv).length >= 20 && texts(b.rec, conv).length >= 20, { what: 'all 20 messages on both' });
  await waitFor(() => a.c.outboxSize === 0 && b.c.outboxSize === 0, { what: 'empty outboxes' });
  // Each side sees its own sends in its order and the whole log once and gapless.
  for (const side of [a, b]) {
    assert.deepEqual(seqs(side.rec, conv), range(1, 21));
    const got = texts(side.rec, conv);
    assert.deepEqual(got.filter((x) => x.startsWith('ann')), expected.filter((x) => x.startsWith('ann')));
    assert.deepEqual(got.filter((x) => x.startsWith('bob')), expected.filter((x) => x.startsWith('bob')));
    assert.deepEqual([...got].sort(), [...expected].sort());
  }
  assert.equal(a.rec.acks.length, 10);
  assert.ok(a.rec.acks.every((x) => x.duplicate === false && x.conv === conv));
  assert.equal(a.c.userId, ann.id);
  assert.equal(a.c.position(conv), 21);
});

test('send states go pending -> sent -> delivered -> read from acks and receipts; typing and presence arrive', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const a = await newClient(t, srv, ann, { ackIntervalMs: 100 });
  const conv = (await a.c.createDirect('bob')).id;
  const b = await newClient(t, srv, bob, { ackIntervalMs: 100 });
  await waitFor(() => a.c.state === 'online' && b.c.state === 'online', { what: 'online' });

  // Presence: ann sees bob online (the notice after sync or a change), then away.
  await waitFor(() => a.c.presenceOf(bob.id)?.state === 'online', { what: 'bob online' });
  await b.c.setAway(true);
  await waitFor(() => a.c.presenceOf(bob.id)?.state === 'away', { what: 'bob away' });

  const cmid = await a.c.send(conv, 'are you there?');
  assert.equal(a.c.sendState(cmid), 'pending');
  await waitFor(() => a.c.sendState(cmid) === 'delivered', { what: 'delivered (bob acked it)' });
  const seq = a.rec.acks.find((x) => x.client_msg_id === cmid).seq;
  assert.deepEqual(a.c.deliveredTo(conv, seq), [bob.id]);
  assert.deepEqual(a.c.readBy(conv, seq), []);
  const r = await b.c.markRead(conv, seq);
  assert.equal(r.unread, 0);
  await waitFor(() => a.c.sendState(cmid) === 'read', { what: 'read' });
  assert.deepEqual(a.c.readBy(conv, seq), [bob.id]);
  const states = a.rec.messageStates.filter((m) => m.clientMsgId === cmid).map((m) => m.state);
  assert.deepEqual(states, ['pending', 'sent', 'delivered', 'read']);

  // Typing: bob types, ann sees it; bob stops, it is over at once.
  await b.c.typing(conv, true);
  await waitFor(() => a.c.typingIn(conv).includes(bob.id), { what: 'bob typing' });
  await b.c.typing(conv, false);
  await waitFor(() => a.c.typingIn(conv).length === 0, { what: 'bob stopped typing' });
  assert.ok(a.rec.typing.some((x) => x.conv === conv && x.users.length === 0));
});

test('the conversation list keeps unread and mention counts current across devices', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  await newUser(srv, 'cat');
  const a = await newClient(t, srv, ann);
  const b = await newClient(t, srv, bob);
  await waitFor(() => a.c.state === 'online' && b.c.state === 'online', { what: 'online' });
  const conv = (await a.c.createGroup('team', ['bob', 'cat'])).id;
  await waitFor(() => b.c.conversations.some((c) => c.id === conv), { what: 'bob lists the new group' });
  await a.c.send(conv, 'one');
  await a.c.send(conv, 'two @bob');
  const unread = () => b.c.conversations.find((c) => c.id === conv);
  await waitFor(() => unread()?.unread === 2 && unread()?.mentions === 1, { what: 'bob: 2 unread, 1 mention' });
  assert.equal(unread().title, 'team');
  // Bob reads on another device: this one hears the read notice and clears its badge.
  const other = await login({ server: srv.baseUrl }, 'bob', 'correct horse battery');
  const b2 = await newClient(t, srv, { ...bob, token: other.token });
  await waitFor(() => b2.c.state === 'online', { what: 'second device online' });
  await b2.c.markRead(conv, unread().last_seq);
  await waitFor(() => unread().unread === 0 && unread().mentions === 0, { what: 'badge cleared by the other device' });
  assert.ok(b.rec.notices.some((n) => n.notice === 'read' && n.conv === conv));
});

test('rich messages: quote, thread reply, reaction, edit, delete, attachment, search', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const a = await newClient(t, srv, ann);
  const b = await newClient(t, srv, bob);
  await waitFor(() => a.c.state === 'online' && b.c.state === 'online', { what: 'online' });
  const conv = (await a.c.createDirect('bob')).id;

  await a.c.send(conv, 'the deployment plan is ready');
  await waitFor(() => a.rec.acks.length === 1, { what: 'first ack' });
  const root = a.rec.acks[0].seq;
  await b.c.send(conv, 'quoting you', { replyTo: root });
  await b.c.send(conv, 'in the thread', { thread: root });
  const png = Uint8Array.from(Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==', 'base64'));
  const up = await a.c.upload(png);
  assert.equal(up.type, 'image/png');
  assert.equal(up.width, 1);
  await a.c.send(conv, '', { attachments: [{ id: up.id, name: 'dot.png' }] });
  await waitFor(() => texts(b.rec, conv).length === 4, { what: 'four messages at bob' });
  const evs = b.rec.events.filter((e) => e.type === 'message.created');
  assert.equal(evs[1].data.reply_to, root);
  assert.equal(evs[2].data.thread, root);
  assert.deepEqual(evs[3].data.attachments.map((x) => [x.id, x.name, x.type]), [[up.id, 'dot.png', 'image/png']]);

  await b.c.react(conv, root, '👍');
  const ed = await a.c.edit(conv, root, 'the deployment plan v2 is ready');
  assert.equal(ed.changed, true);
  await waitFor(() => b.rec.events.some((e) => e.type === 'message.edited'), { what: 'edit event' });
  assert.ok(b.rec.events.some((e) => e.type === 'reaction.added' && e.data.msg === root && e.data.emoji === '👍'));
  const view = await a.c.messages(conv);
  const rootView = view.messages.find((m) => m.seq === root);
  assert.equal(rootView.text, 'the deployment plan v2 is ready');
  assert.deepEqual(rootView.reactions.map((x) => x.emoji), ['👍']);
  assert.equal(rootView.replies.count, 1);
  const th = await a.c.thread(conv, root);
  assert.deepEqual(th.replies.map((m) => m.text), ['in the thread']);

  const found = await waitFor(async () => {
    const r = await b.c.search({ query: 'deploy*' });
    return r.results.length > 0 && r;
  }, { what: 'search finds the edited message' });
  assert.equal(found.results[0].seq, root);
  assert.ok(found.results[0].snippet.some((s) => s.hit));

  const del = await a.c.deleteMessage(conv, root);
  assert.equal(del.changed, true);
  await waitFor(() => b.rec.events.some((e) => e.type === 'message.deleted' && e.data.msg === root), { what: 'delete event' });
});

test('typed errors: permanent send errors leave the outbox; calls reject with the protocol code and field', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  await newUser(srv, 'bob');
  const a = await newClient(t, srv, ann);
  await waitFor(() => a.c.state === 'online', { what: 'online' });
  const conv = (await a.c.createDirect('bob')).id;

  const bad = await a.c.send(999_999, 'nowhere');
  const ok = await a.c.send(conv, 'after the bad one');
  await waitFor(() => a.rec.failed.length === 1 && a.rec.acks.length === 1, { what: 'one failure, one ack' });
  assert.equal(a.rec.failed[0].clientMsgId, bad);
  assert.ok(a.rec.failed[0].error instanceof ParleyError);
  assert.equal(a.rec.failed[0].error.code, 'not_found');
  assert.equal(a.c.sendState(bad), 'failed');
  assert.equal(a.rec.acks[0].client_msg_id, ok);
  assert.equal(a.c.outboxSize, 0);

  await assert.rejects(a.c.call('history', { conv: 'x' }), (e) => e instanceof ParleyError && e.code === 'invalid' && e.field === 'conv');
  await assert.rejects(a.c.react(conv, 1, 'not an emoji'), (e) => e.code === 'invalid');
  await assert.rejects(a.c.call('conv.get', { conv: 424242 }), (e) => e.code === 'not_found' && !e.transient);
  const big = 'x'.repeat(16385);
  await a.c.send(conv, big);
  await waitFor(() => a.rec.failed.length === 2, { what: 'too_large' });
  assert.equal(a.rec.failed[1].error.code, 'too_large');
});

test('a rejected token stops the client for good with authFailed; a refreshed token replaces the old one', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bad = await newClient(t, srv, { ...ann, token: 'pt_' + 'A'.repeat(43) });
  await waitFor(() => bad.rec.authFailed.length === 1, { what: 'authFailed' });
  assert.equal(bad.rec.authFailed[0].code, 'unauthenticated');
  assert.equal(bad.c.state, 'offline');

  // Expiry in 2 s, refreshed up to a day early: after half the time left.
  const a = await newClient(t, srv, ann, { tokenExpiresMs: Date.now() + 2_000, refreshMarginMs: 86_400_000 });
  await waitFor(() => a.rec.tokens.length === 1, { what: 'a refreshed token' });
  const fresh = a.rec.tokens[0].token;
  assert.notEqual(fresh, ann.token);
  assert.equal(a.c.token, fresh);
  assert.ok(a.rec.tokens[0].expiresMs > Date.now() + 86_400_000);
  // The old token is dead, the new one works, and the connection stayed up.
  const res = await fetch(`${srv.baseUrl}/v1/conversations`, { headers: { authorization: `Bearer ${ann.token}` } });
  assert.equal(res.status, 401);
  const ok = await fetch(`${srv.baseUrl}/v1/conversations`, { headers: { authorization: `Bearer ${fresh}` } });
  assert.equal(ok.status, 200);
  await waitFor(() => a.c.state === 'online', { what: 'still online' });
  assert.equal(a.rec.authFailed.length, 0);
});
