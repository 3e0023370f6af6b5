// History pagination over REST: GET /v1/conversations/{id}/events with before/after/limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './lib/server.mjs';
import { newUser, rest, restOk } from './lib/client.mjs';
import { assertGapless, assertMessageEvent } from './lib/assertions.mjs';

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('history pages over REST: before/after/limit give the right pages and has_more', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const outsider = await newUser(srv, 'cat');

  const conv = (await restOk(srv, 'POST', '/v1/conversations', { token: ann.token, body: { kind: 'direct', peer: 'bob' } }))
    .conversation.id;
  // 25 messages, alternating senders: seqs 2..26 (seq 1 is conversation.created).
  const sent = new Map();
  for (let i = 0; i < 25; i++) {
    const u = i % 2 ? bob : ann;
    const cmid = `m-${i}`;
    const text = `message ${i} from ${u.handle}`;
    const ack = await restOk(srv, 'POST', `/v1/conversations/${conv}/messages`, {
      token: u.token,
      body: { client_msg_id: cmid, text },
    });
    assert.equal(ack.seq, i + 2);
    sent.set(ack.seq, { ack, sender: u.id, text, cmid });
  }
  const LAST = 26;

  const page = async (query, token = ann.token) => {
    const r = await restOk(srv, 'GET', `/v1/conversations/${conv}/events${query}`, { token });
    assert.equal(r.first_seq, 1, `first_seq for ${query}`);
    assert.equal(r.last_seq, LAST, `last_seq for ${query}`);
    for (const ev of r.events) {
      if (ev.seq === 1) assert.equal(ev.type, 'conversation.created');
      else assertMessageEvent(ev, sent.get(ev.seq));
    }
    if (r.events.length) assertGapless(r.events, conv, r.events[0].seq, query);
    return { seqs: r.events.map((e) => e.seq), more: r.has_more, events: r.events };
  };
  const expectPage = async (query, from, to, more) => {
    const p = await page(query);
    assert.deepEqual(p.seqs, from <= to ? range(from, to) : [], `seqs of ${query}`);
    assert.equal(p.more, more, `has_more of ${query}`);
  };

  // No cursor: the newest `limit`; the default limit (50) covers everything.
  await expectPage('', 1, LAST, false);
  await expectPage('?limit=10', 17, 26, true);
  await expectPage('?limit=26', 1, 26, false);
  await expectPage('?limit=25', 2, 26, true);

  // Scrolling back with before.
  await expectPage('?before=17&limit=10', 7, 16, true);
  await expectPage('?before=7&limit=10', 1, 6, false);
  await expectPage('?before=11&limit=10', 1, 10, false); // exactly the rest: no more
  await expectPage('?before=12&limit=10', 2, 11, true);
  await expectPage('?before=2&limit=10', 1, 1, false);
  await expectPage('?before=1&limit=10', 1, 0, false);
  await expectPage('?before=1000&limit=5', 22, 26, true);

  // Catching up with after.
  await expectPage('?after=0&limit=10', 1, 10, true);
  await expectPage('?after=10&limit=10', 11, 20, true);
  await expectPage('?after=20&limit=10', 21, 26, false);
  await expectPage('?after=16&limit=10', 17, 26, false); // exactly the rest: no more
  await expectPage('?after=15&limit=10', 16, 25, true);
  await expectPage('?after=25', 26, 26, false);
  await expectPage('?after=26', 1, 0, false);
  await expectPage('?after=1000', 1, 0, false);

  // Walking the whole log both ways gives every event once.
  const back = [];
  let q = '?limit=7';
  for (;;) {
    const p = await page(q);
    back.unshift(...p.seqs);
    if (!p.more) break;
    q = `?before=${p.seqs[0]}&limit=7`;
  }
  assert.deepEqual(back, range(1, LAST));
  const fwd = [];
  let after = 0;
  for (;;) {
    const p = await page(`?after=${after}&limit=7`);
    fwd.push(...p.seqs);
    if (!p.more) break;
    after = p.seqs[p.seqs.length - 1];
  }
  assert.deepEqual(fwd, range(1, LAST));

  // The other member sees the same pages.
  const mine = await page('?before=17&limit=10');
  const theirs = await page('?before=17&limit=10', bob.token);
  assert.deepEqual(theirs.events, mine.events);

  // Invalid arguments.
  for (const query of ['?limit=0', '?limit=201', '?limit=abc', '?before=5&after=2', '?after=x']) {
    const r = await rest(srv, 'GET', `/v1/conversations/${conv}/events${query}`, { token: ann.token });
    assert.equal(r.status, 400, `${query}: ${r.text}`);
    assert.equal(r.body?.error?.code, 'invalid', query);
  }
  const max = await restOk(srv, 'GET', `/v1/conversations/${conv}/events?limit=200`, { token: ann.token });
  assert.equal(max.events.length, LAST);

  // Not visible to others; unauthenticated without a token.
  const hidden = await rest(srv, 'GET', `/v1/conversations/${conv}/events`, { token: outsider.token });
  assert.equal(hidden.status, 404);
  assert.equal(hidden.body?.error?.code, 'not_found');
  const anon = await rest(srv, 'GET', `/v1/conversations/${conv}/events`);
  assert.equal(anon.status, 401);
  assert.equal(anon.body?.error?.code, 'unauthenticated');
});
