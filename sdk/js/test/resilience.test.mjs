// Failures against the real server: sends across a server kill -9 and restart, an outbox
// picked up after a simulated page reload (MemoryStorage and IndexedDbStorage), resume of
// events missed while offline, gap filling when a live event is lost on the way, and
// rate_limited answers honoured by the outbox without dropping the connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { IDBFactory } from 'fake-indexeddb';

import { MemoryStorage, IndexedDbStorage } from '../dist/parley.js';
import { startServer, newUser, newClient, waitFor, texts, seqs, range } from './lib/helpers.mjs';

async function pair(t, srv, opts = {}) {
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const b = await newClient(t, srv, bob);
  await waitFor(() => b.c.state === 'online', { what: 'bob online' });
  const conv = (await b.c.createDirect('ann')).id;
  return { ann, bob, b, conv, ...opts };
}

test('sends retried across a server kill -9 and restart arrive exactly once and in order', async (t) => {
  const srv = await startServer(t);
  const { ann, b, conv } = await pair(t, srv);
  const a = await newClient(t, srv, ann);
  await waitFor(() => a.c.state === 'online', { what: 'ann online' });

  const expected = range(1, 60).map((i) => `m${i}`);
  for (const text of expected.slice(0, 30)) await a.c.send(conv, text);
  await waitFor(() => a.rec.acks.length >= 5, { what: 'some acks before the crash' });
  await srv.kill9();
  await waitFor(() => a.c.state === 'backing_off' || a.c.state === 'connecting', { what: 'ann noticed' });
  for (const text of expected.slice(30)) await a.c.send(conv, text); // queued while the server is down
  assert.ok(a.c.outboxSize > 0);
  await srv.restart();

  await waitFor(() => texts(b.rec, conv).length >= 60 && a.c.outboxSize === 0, { timeoutMs: 20_000, what: '60 messages at bob' });
  assert.deepEqual(texts(b.rec, conv), expected, 'bob: each once, in send order');
  assert.deepEqual(texts(a.rec, conv), expected, 'ann (own messages as events): each once, in order');
  assert.deepEqual(seqs(b.rec, conv), range(1, 61));
  // Every message acknowledged once to the application, whatever the server saw twice.
  assert.equal(new Set(a.rec.acks.map((x) => x.client_msg_id)).size, 60);
  assert.equal(a.rec.acks.length, 60);
  assert.ok(a.rec.states.includes('backing_off'));
});

const storages = {
  memory: () => {
    const m = new MemoryStorage();
    return () => m;
  },
  indexeddb: () => {
    const factory = new IDBFactory();
    return () => new IndexedDbStorage('parley:ann@test', factory);
  },
};

for (const [name, make] of Object.entries(storages)) {
  test(`outbox (${name}): messages queued before a reload are sent by the next client exactly once`, async (t) => {
    const srv = await startServer(t);
    const { ann, b, conv } = await pair(t, srv);
    const open = make();

    // Page 1, offline: the server is down while the user writes.
    await srv.kill9();
    const s1 = open();
    const p1 = await newClient(t, srv, ann, { storage: s1 });
    const queued = [];
    for (let i = 1; i <= 5; i++) queued.push(await p1.c.send(conv, `offline ${i}`));
    await p1.c.stop(); // the page goes away
    await s1.close?.();
    await srv.restart();
    await waitFor(() => b.c.state === 'online', { timeoutMs: 15_000, what: 'bob back online' });

    // Page 2: the same storage; its outbox goes out, with the same client_msg_ids.
    const s2 = open();
    const p2 = await newClient(t, srv, ann, { storage: s2 });
    assert.equal(p2.c.outboxSize, 5);
    assert.deepEqual(queued.map((id) => p2.c.sendState(id)), Array(5).fill('pending'));
    // Page 2 writes more and reloads again right away: some of these may be on the server
    // already, unacknowledged; page 3 resends them and the server stores each once.
    for (let i = 1; i <= 5; i++) await p2.c.send(conv, `racing ${i}`);
    await new Promise((r) => setTimeout(r, 30));
    await p2.c.stop();
    await s2.close?.();
    const p3 = await newClient(t, srv, ann, { storage: open() });
    await waitFor(() => p3.c.outboxSize === 0, { what: 'page 3 empties the outbox' });

    const expected = [...range(1, 5).map((i) => `offline ${i}`), ...range(1, 5).map((i) => `racing ${i}`)];
    await waitFor(() => texts(b.rec, conv).length >= 10, { what: 'bob has all ten' });
    await new Promise((r) => setTimeout(r, 300)); // anything repeated would show up now
    assert.deepEqual(texts(b.rec, conv), expected);
    const firstIds = b.rec.events.filter((e) => e.type === 'message.created').slice(0, 5).map((e) => e.client_msg_id);
    assert.deepEqual(firstIds, queued, 'sent with the ids given before the reload');
  });
}

test('resume: events missed while offline are delivered once from the stored positions; nothing old repeats', async (t) => {
  const srv = await startServer(t);
  const { ann, bob, conv } = await pair(t, srv);
  const a = await newClient(t, srv, ann);
  const storage = new MemoryStorage();
  const b1 = await newClient(t, srv, bob, { storage });
  for (let i = 1; i <= 3; i++) await a.c.send(conv, `before ${i}`);
  await waitFor(() => texts(b1.rec, conv).length === 3, { what: 'three at bob' });
  await b1.c.stop();
  for (let i = 1; i <= 4; i++) await a.c.send(conv, `missed ${i}`);
  await waitFor(() => a.c.outboxSize === 0 && a.rec.acks.length === 7, { what: 'acks' });
  const b2 = await newClient(t, srv, bob, { storage });
  await waitFor(() => texts(b2.rec, conv).length >= 4, { what: 'the missed four' });
  await a.c.send(conv, 'live');
  await waitFor(() => texts(b2.rec, conv).length >= 5, { what: 'live after resume' });
  assert.deepEqual(texts(b2.rec, conv), ['missed 1', 'missed 2', 'missed 3', 'missed 4', 'live']);
  assert.deepEqual(seqs(b2.rec, conv), range(5, 9));
});

// A WebSocket that loses chosen incoming events on the way (as a buggy intermediary
// could); everything else passes through unchanged.
function lossyWebSocket(drop) {
  return class LossyWebSocket {
    constructor(url) {
      this.ws = new WebSocket(url);
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      this.ws.onopen = (e) => this.onopen?.(e);
      this.ws.onclose = (e) => this.onclose?.(e);
      this.ws.onerror = (e) => this.onerror?.(e);
      this.ws.onmessage = (m) => {
        const kept = String(m.data).split('\n').filter((line) => {
          const f = JSON.parse(line);
          return !(f.ev && drop(f.ev));
        });
        if (kept.length) this.onmessage?.({ data: kept.join('\n') });
      };
    }
    get readyState() {
      return this.ws.readyState;
    }
    send(d) {
      this.ws.send(d);
    }
    close(code, reason) {
      this.ws.close(code, reason);
    }
  };
}

test('gap filling: live events lost on the way are fetched with history and delivered once, in order', async (t) => {
  const srv = await startServer(t);
  const { ann, bob, conv } = await pair(t, srv);
  const dropped = [];
  const drop = (ev) => {
    if (ev.conv === conv && (ev.seq === 3 || ev.seq === 4 || ev.seq === 7) && !dropped.includes(ev.seq)) {
      dropped.push(ev.seq);
      return true;
    }
    return false;
  };
  const b2 = await newClient(t, srv, bob, { WebSocket: lossyWebSocket(drop), replayFromJoin: true });
  const a = await newClient(t, srv, ann);
  await waitFor(() => b2.c.state === 'online' && a.c.state === 'online', { what: 'online' });
  for (let i = 1; i <= 8; i++) {
    await a.c.send(conv, `n${i}`);
    await waitFor(() => a.rec.acks.length === i, { what: `ack ${i}` }); // one at a time: live pushes
  }
  await waitFor(() => texts(b2.rec, conv).length >= 8, { what: 'all eight at bob' });
  assert.deepEqual(dropped, [3, 4, 7], 'the events were really lost on the way');
  assert.deepEqual(seqs(b2.rec, conv), range(1, 9));
  assert.deepEqual(texts(b2.rec, conv), range(1, 8).map((i) => `n${i}`));
  assert.equal(b2.c.state, 'online');
});

test('rate_limited sends wait retry_after_ms and go out in order, on the same connection', async (t) => {
  const srv = await startServer(t, { extraArgs: ['--set', 'rate.write_per_s=10', '--set', 'rate.write_burst=4'] });
  const { ann, b, conv } = await pair(t, srv);
  const a = await newClient(t, srv, ann);
  await waitFor(() => a.c.state === 'online', { what: 'online' });
  const started = Date.now();
  const expected = range(1, 20).map((i) => `r${i}`);
  for (const text of expected) await a.c.send(conv, text);
  await waitFor(() => a.c.outboxSize === 0, { timeoutMs: 20_000, what: 'all acknowledged' });
  const took = Date.now() - started;
  // 4 at once, then 10/s: at least ~1.6 s.
  assert.ok(took >= 1400, `took ${took} ms: the refill rate was respected`);
  await waitFor(() => texts(b.rec, conv).length >= 20, { what: 'bob has all' });
  assert.deepEqual(texts(b.rec, conv), expected);
  assert.deepEqual(a.rec.states, ['connecting', 'online'], 'no reconnect: the outbox paused instead');
  assert.equal(a.rec.failed.length, 0);
});
