// Transport fallback through a proxy that refuses WebSocket upgrades (and event streams):
// the client moves to SSE, then long polling, after fallbackAfter attempts that reached the
// server, keeps chatting with nothing lost or repeated, and returns to the WebSocket after
// transportRetryMs once it gets through again.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, newUser, newClient, waitFor, texts, seqs, range } from './lib/helpers.mjs';
import { startProxy } from './lib/proxy.mjs';

async function setup(t, refuse, opts = {}) {
  const srv = await startServer(t);
  const proxy = await startProxy(t, () => srv.port);
  for (const p of refuse) proxy.refuse(p);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const b = await newClient(t, srv, bob);
  await waitFor(() => b.c.state === 'online', { what: 'bob online' });
  const conv = (await b.c.createDirect('ann')).id;
  const a = await newClient(t, proxy.baseUrl, ann, opts);
  return { srv, proxy, a, b, conv };
}

// Both write in turns; both must see all messages once, gapless, each side's in order.
async function chat(a, b, conv, tag, n) {
  const before = texts(b.rec, conv).length;
  const sent = [];
  for (let i = 1; i <= n; i++) {
    const [who, text] = i % 2 ? [a, `${tag} ann ${i}`] : [b, `${tag} bob ${i}`];
    await who.c.send(conv, text);
    sent.push(text);
  }
  await waitFor(() => texts(a.rec, conv).length >= before + n && texts(b.rec, conv).length >= before + n,
    { timeoutMs: 15_000, what: `${tag}: ${n} messages on both sides` });
  for (const side of [a, b]) {
    const got = texts(side.rec, conv).slice(before);
    assert.deepEqual([...got].sort(), [...sent].sort(), `${tag}: each once`);
    assert.deepEqual(got.filter((x) => x.includes(' ann ')), sent.filter((x) => x.includes(' ann ')), `${tag}: ann's in order`);
  }
}

test('a proxy refusing WebSocket upgrades: the client falls back to SSE and chats losslessly', async (t) => {
  const { proxy, a, b, conv } = await setup(t, ['/v1/ws']);
  await waitFor(() => a.c.state === 'online', { what: 'online' });
  assert.equal(a.c.transport, 'sse');
  assert.deepEqual(a.rec.transports, ['sse']);
  assert.equal(proxy.refusals, 2, 'fell back after two refused attempts');
  await chat(a, b, conv, 'sse', 12);
  assert.deepEqual(seqs(a.rec, conv), range(1, 13));
});

test('a proxy refusing WebSockets and event streams: long polling, and a server restart loses nothing', async (t) => {
  const { srv, proxy, a, b, conv } = await setup(t, ['/v1/ws', '/v1/sse']);
  await waitFor(() => a.c.state === 'online', { what: 'online' });
  assert.equal(a.c.transport, 'long_polling');
  assert.equal(proxy.refusals, 4);
  await chat(a, b, conv, 'poll', 10);
  // Queue while the server is gone; everything arrives once after it is back.
  await srv.kill9();
  for (let i = 1; i <= 5; i++) await a.c.send(conv, `down ${i}`);
  await srv.restart();
  await waitFor(() => texts(b.rec, conv).filter((x) => x.startsWith('down')).length >= 5 && a.c.outboxSize === 0,
    { timeoutMs: 20_000, what: 'queued messages after the restart' });
  await chat(a, b, conv, 'after', 6);
  assert.deepEqual(seqs(a.rec, conv), range(1, 22));
  assert.deepEqual(seqs(b.rec, conv), range(1, 22));
  assert.equal(a.c.transport, 'long_polling', 'a server that is down does not count against the transport');
});

test('after transportRetryMs online on SSE the client tries the WebSocket again and stays on it', async (t) => {
  const { proxy, a, b, conv } = await setup(t, ['/v1/ws'], { transportRetryMs: 1500 });
  await waitFor(() => a.c.state === 'online', { what: 'online' });
  assert.equal(a.c.transport, 'sse');
  await chat(a, b, conv, 'first', 6);
  proxy.allowAll();
  const sending = chat(a, b, conv, 'switch', 20);
  await waitFor(() => a.c.transport === 'websocket' && a.c.state === 'online', { what: 'back on the WebSocket' });
  await sending;
  await chat(a, b, conv, 'ws', 6);
  // (A retry that came before allowAll() fell back to SSE again: also fine.)
  assert.equal(a.rec.transports.at(-1), 'websocket');
  assert.ok(a.rec.transports.slice(0, -1).every((x) => x === 'sse'), a.rec.transports.join());
  assert.deepEqual(seqs(a.rec, conv), range(1, 33));
});
