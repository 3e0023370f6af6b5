// Pure logic of the SDK, without a server: backoff timing bounds (seeded jitter), the
// inbox sequencer, cursors, the typed emitter and errors, and the storage contract on both
// MemoryStorage and IndexedDbStorage (on fake-indexeddb, the same API a browser has).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDBFactory } from 'fake-indexeddb';

import {
  Backoff, seededRandom, Sequencer, cursorOf, Emitter, ParleyError, MemoryStorage, IndexedDbStorage,
} from '../dist/parley.js';

test('backoff: every delay lies in [0, min(cap, base*2^n)]; the ceilings double up to the cap', () => {
  const b = new Backoff({ baseMs: 500, capMs: 30_000, stableAfterMs: 10_000 }, seededRandom(42));
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 20, 2000].map((n) => b.ceiling(n)),
    [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  const delays = [];
  for (let n = 0; n < 12; n++) {
    const d = b.nextDelay();
    assert.ok(Number.isInteger(d) && d >= 0 && d <= b.ceiling(n), `delay ${d} for failure ${n}`);
    delays.push(d);
  }
  // Full jitter: the same seed gives the same schedule, another seed another one.
  const again = new Backoff({ baseMs: 500, capMs: 30_000, stableAfterMs: 10_000 }, seededRandom(42));
  assert.deepEqual(Array.from({ length: 12 }, () => again.nextDelay()), delays);
  const other = new Backoff({ baseMs: 500, capMs: 30_000, stableAfterMs: 10_000 }, seededRandom(7));
  assert.notDeepEqual(Array.from({ length: 12 }, () => other.nextDelay()), delays);
});

test('backoff: the extremes of the random source give 0 and the ceiling', () => {
  const lo = new Backoff({ baseMs: 100, capMs: 1000, stableAfterMs: 1 }, () => 0);
  assert.deepEqual([lo.nextDelay(), lo.nextDelay(), lo.nextDelay()], [0, 0, 0]);
  const hi = new Backoff({ baseMs: 100, capMs: 1000, stableAfterMs: 1 }, () => 0.999999999);
  assert.deepEqual(Array.from({ length: 6 }, () => hi.nextDelay()), [100, 200, 400, 800, 1000, 1000]);
});

test('backoff: the count resets only after a connection stayed online for stableAfterMs', () => {
  let now = 0;
  const b = new Backoff({ baseMs: 100, capMs: 10_000, stableAfterMs: 1000 }, () => 0.999999999, () => now);
  b.nextDelay();
  b.nextDelay();
  b.nextDelay(); // 3 failures: the next ceiling is 800
  b.onConnected();
  now += 999; // dropped too soon: keeps growing
  assert.equal(b.nextDelay(), 800);
  b.onConnected();
  now += 1000; // stable: back to base
  assert.equal(b.nextDelay(), 100);
  assert.equal(b.failures, 1);
});

const ev = (conv, seq) => ({ conv, seq, id: `e${conv}.${seq}`, ts: 0, type: 'message.created', sender: 1, data: {} });

test('sequencer: duplicates dropped, out-of-order held until the gap closes, gap() names it', () => {
  const s = new Sequencer();
  s.setPosition(1, 3);
  assert.deepEqual(s.offer(ev(1, 3)), []); // at the position: duplicate
  assert.deepEqual(s.offer(ev(1, 6)).map((e) => e.seq), []);
  assert.deepEqual(s.offer(ev(1, 5)).map((e) => e.seq), []);
  assert.deepEqual(s.gap(1), { after: 3, upTo: 4 });
  assert.deepEqual(s.gaps(), [1]);
  assert.deepEqual(s.offer(ev(1, 4)).map((e) => e.seq), [4, 5, 6]);
  assert.equal(s.gap(1), undefined);
  assert.deepEqual(s.offer(ev(1, 5)), []);
  assert.equal(s.position(1), 6);
  // A conversation without a position starts at its first event.
  assert.deepEqual(s.offer(ev(2, 10)).map((e) => e.seq), [10]);
  assert.equal(s.held(), 0);
});

test('sequencer: at most maxHeld per conversation, keeping the lowest seqs', () => {
  const s = new Sequencer(3);
  s.setPosition(1, 0);
  for (const q of [10, 9, 8, 7]) s.offer(ev(1, q));
  assert.equal(s.held(), 3);
  assert.deepEqual(s.gap(1), { after: 0, upTo: 6 });
  const out = [];
  for (let q = 1; q <= 6; q++) out.push(...s.offer(ev(1, q)).map((e) => e.seq));
  assert.deepEqual(out, [1, 2, 3, 4, 5, 6, 7, 8, 9]); // 10 was dropped: it comes again from history
});

test('cursor: conv.seq pairs in conversation order; "all" for none stored; "" for from now on', () => {
  assert.equal(cursorOf(new Map([[13, 4], [12, 57]])), '12.57-13.4');
  assert.equal(cursorOf(new Map()), 'all');
  assert.equal(cursorOf(null), '');
});

test('emitter: typed listeners in order, off(), once(), a throwing listener does not stop the rest', () => {
  class E extends Emitter {
    fire(n, v) {
      this.emit(n, v);
    }
  }
  const e = new E();
  const seen = [];
  const errors = [];
  e.onListenerError = (err) => errors.push(err.message);
  const off = e.on('x', (v) => seen.push(['a', v]));
  e.on('x', () => {
    throw new Error('boom');
  });
  e.once('x', (v) => seen.push(['once', v]));
  e.fire('x', 1);
  off();
  e.fire('x', 2);
  assert.deepEqual(seen, [['a', 1], ['once', 1]]);
  assert.deepEqual(errors, ['boom', 'boom']);
});

test('errors: wire errors become typed ParleyErrors; transient ones are told apart', () => {
  const e = ParleyError.fromWire({ code: 'rate_limited', message: 'slow down', retry_after_ms: 250 });
  assert.ok(e instanceof ParleyError && e instanceof Error);
  assert.equal(e.code, 'rate_limited');
  assert.equal(e.retryAfterMs, 250);
  assert.equal(e.transient, true);
  const f = ParleyError.fromWire({ code: 'invalid', message: 'bad', field: 'conv' });
  assert.equal(f.field, 'conv');
  assert.equal(f.transient, false);
  assert.equal(ParleyError.fromWire({ code: 'something_new', message: 'x' }).code, 'internal');
  assert.equal(ParleyError.fromWire('garbage').code, 'internal');
});

// The storage contract, on each implementation; `reopen` gives a second instance on the
// same data (a page reload).
const storages = {
  memory: () => {
    const m = new MemoryStorage();
    return { first: m, reopen: () => m };
  },
  indexeddb: () => {
    const factory = new IDBFactory();
    return { first: new IndexedDbStorage('parley:test', factory), reopen: () => new IndexedDbStorage('parley:test', factory) };
  },
};

for (const [name, make] of Object.entries(storages)) {
  test(`storage (${name}): outbox in order, positions, device survive a reopen; removals and resets stick`, async () => {
    const { first, reopen } = make();
    assert.deepEqual(await first.load(), { outbox: [], positions: new Map(), device: null });
    await first.setDevice('0123456789abcdef');
    const entry = (order, extra = {}) => ({ client_msg_id: `d:${order}`, conv: 1, text: `m${order}`, order, created_ms: 5, ...extra });
    await first.addOutbox(entry(2, { reply_to: 4, thread: 3, attachments: [{ id: 'ab', name: 'x.png' }] }));
    await first.addOutbox(entry(1));
    await first.addOutbox(entry(3));
    await first.removeOutbox('d:3');
    await first.savePositions(new Map([[1, 10], [2, 20]]));
    await first.savePositions(new Map([[1, 7]])); // a position_reset moves it back
    if (first !== reopen()) await first.close();
    const second = reopen();
    const s = await second.load();
    assert.equal(s.device, '0123456789abcdef');
    assert.deepEqual(s.outbox.map((e) => e.client_msg_id), ['d:1', 'd:2']);
    assert.deepEqual(s.outbox[1], entry(2, { reply_to: 4, thread: 3, attachments: [{ id: 'ab', name: 'x.png' }] }));
    assert.deepEqual([...s.positions].sort(), [[1, 7], [2, 20]]);
    await second.close();
  });
}
