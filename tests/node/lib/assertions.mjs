// Shared assertions for the parley Node tests.
import assert from 'node:assert/strict';

// No protocol violations (unparseable frames, unmatched or repeated replies) on a client.
export function assertClean(client, name = 'client') {
  assert.deepEqual(client.problems, [], `${name}: protocol problems`);
}

// Events are one conversation's log from `from` on: seq from, from+1, ... with no gap.
export function assertGapless(events, conv, from, name = 'events') {
  events.forEach((e, i) => {
    assert.equal(e.conv, conv, `${name}[${i}].conv`);
    assert.equal(e.seq, from + i, `${name}[${i}].seq (gapless from ${from})`);
  });
}

// A message.created event matches a send acknowledgement and the text sent.
export function assertMessageEvent(ev, { ack, sender, text, cmid }) {
  assert.equal(ev.type, 'message.created');
  assert.equal(ev.sender, sender, 'sender');
  assert.equal(ev.client_msg_id, cmid, 'client_msg_id');
  assert.deepEqual(ev.data, { text }, 'data');
  if (ack) {
    assert.equal(ev.conv, ack.conv, 'conv');
    assert.equal(ev.seq, ack.seq, 'seq matches the ack');
    assert.equal(ev.id, ack.id, 'id matches the ack');
    assert.equal(ev.ts, ack.ts, 'ts matches the ack');
  }
  assert.match(ev.id, /^[0-9a-f]{32}$/, 'event id is 32 hex characters');
}

// A send ack, well-formed.
export function assertAck(ack, { conv, cmid, duplicate = false }) {
  assert.equal(ack.conv, conv, 'ack.conv');
  assert.equal(ack.client_msg_id, cmid, 'ack.client_msg_id');
  assert.equal(ack.duplicate, duplicate, 'ack.duplicate');
  assert.ok(Number.isSafeInteger(ack.seq) && ack.seq >= 1, 'ack.seq');
  assert.match(ack.id, /^[0-9a-f]{32}$/, 'ack.id');
  assert.ok(Number.isSafeInteger(ack.ts) && ack.ts > 1_600_000_000_000, 'ack.ts');
}
