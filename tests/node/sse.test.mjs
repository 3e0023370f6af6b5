// Server-Sent Events with a real EventSource client (npm `eventsource`, the WHATWG API):
// events arrive in order with resume positions as ids, and after the server restarts the
// EventSource reconnects on its own with Last-Event-ID and misses nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';

import { startServer } from './lib/server.mjs';
import { WsClient, newUser, restOk, withTimeout } from './lib/client.mjs';

// An EventSource that sends the bearer token, collecting event frames and ids.
function openStream(srv, token, cursor) {
  const got = { events: [], ids: [], errors: 0, waiters: [] };
  const es = new EventSource(`${srv.baseUrl}/v1/sse?cursor=${encodeURIComponent(cursor)}`, {
    fetch: (input, init) =>
      fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } }),
  });
  es.onmessage = (m) => {
    const f = JSON.parse(m.data);
    if (f.ev) {
      got.events.push(f.ev);
      got.ids.push(m.lastEventId);
      for (const w of got.waiters.splice(0)) w();
    }
  };
  es.onerror = () => {
    got.errors += 1;
  };
  got.until = async (n, what) => {
    while (got.events.length < n) {
      await withTimeout(new Promise((resolve) => got.waiters.push(resolve)), 10_000, what);
    }
  };
  got.close = () => es.close();
  return got;
}

test('an EventSource receives the conversation in order, and resumes by itself after a server restart', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  let a = await WsClient.open(srv, ann.token);
  const conv = (await a.call('conv.create', { kind: 'group', title: 'g', members: ['bob'] })).conversation.id;
  const s = openStream(srv, bob.token, `${conv}.0`);
  t.after(() => s.close());
  await s.until(1, 'conversation.created over SSE');
  for (let i = 0; i < 3; i++) await a.call('send', { conv, client_msg_id: `a${i}`, text: `before ${i}` });
  await s.until(4, 'three messages over SSE');
  assert.deepEqual(s.events.map((e) => e.seq), [1, 2, 3, 4]);
  assert.equal(s.ids[3], `${conv}.4`);

  a.terminate();
  await srv.restart(); // the stream breaks; the EventSource retries with Last-Event-ID
  a = await WsClient.open(srv, ann.token);
  t.after(() => a.terminate());
  for (let i = 0; i < 3; i++) await a.call('send', { conv, client_msg_id: `b${i}`, text: `after ${i}` });
  await s.until(7, 'the messages sent after the restart');
  assert.deepEqual(s.events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7], 'each once, in order');
  assert.ok(s.errors >= 1, 'the EventSource saw the connection break');

  // Commands over POST in the WebSocket's shapes.
  const r = await restOk(srv, 'POST', '/v1/rpc', {
    token: bob.token,
    body: { id: 'r1', op: 'send', conv, client_msg_id: 'bob-1', text: 'over rpc' },
  });
  assert.equal(r.id, 'r1');
  assert.equal(r.result.seq, 8);
  await s.until(8, "bob's own message over SSE");
  assert.equal(s.events[7].client_msg_id, 'bob-1');
});
