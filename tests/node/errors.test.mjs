// Typed errors: every bad request gets its error reply and the connection stays healthy
// (a `ping` on the same socket still works); a bad token on the upgrade gets HTTP 401.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from './lib/server.mjs';
import { WsClient, newUser, rest, expectUpgradeRefused } from './lib/client.mjs';
import { assertClean } from './lib/assertions.mjs';

// The socket still answers requests.
async function assertHealthy(c, what) {
  const r = await c.request({ op: 'ping' });
  assert.ok(r.result && Number.isSafeInteger(r.result.ts), `ping after ${what}: ${JSON.stringify(r)}`);
  assert.equal(c.closeInfo, null, `still open after ${what}`);
}

function assertError(reply, code, { id, field } = {}) {
  assert.ok(reply.error, `expected error ${code}, got ${JSON.stringify(reply)}`);
  assert.equal(reply.error.code, code, JSON.stringify(reply));
  assert.equal(typeof reply.error.message, 'string');
  assert.equal(reply.result, undefined);
  if (id !== undefined) assert.equal(reply.id, id);
  if (field !== undefined) assert.equal(reply.error.field, field, JSON.stringify(reply));
}

test('typed errors on a WebSocket leave the connection healthy', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  await newUser(srv, 'bob');
  const cat = await newUser(srv, 'cat');

  const a = await WsClient.open(srv, ann.token);
  t.after(() => a.terminate());

  // Malformed JSON: invalid, id null.
  a.sendRaw('{"id":1,"op":"ping"');
  assertError(await a.nextNullReply(), 'invalid', { id: null });
  await assertHealthy(a, 'malformed JSON');

  // Valid JSON that is not a request object: invalid, id null.
  a.sendRaw('[1,2,3]');
  assertError(await a.nextNullReply(), 'invalid', { id: null });
  a.sendRaw('{"op":"ping"}');
  assertError(await a.nextNullReply(), 'invalid', { id: null, field: 'id' });
  a.sendRaw(JSON.stringify({ id: 'x'.repeat(65), op: 'ping' }));
  assertError(await a.nextNullReply(), 'invalid', { id: null, field: 'id' });
  // A binary message cannot be read as a request either.
  a.sendRaw(Buffer.from('{"id":2,"op":"ping"}'));
  assertError(await a.nextNullReply(), 'invalid', { id: null });
  await assertHealthy(a, 'non-request frames');

  // Unknown op: invalid, with the request's id (integer and string ids).
  assertError(await a.request({ op: 'frobnicate' }), 'invalid', { field: 'op' });
  assertError(await a.request({ id: 'str-id-1', op: 'frobnicate' }), 'invalid', { id: 'str-id-1' });
  await assertHealthy(a, 'unknown op');

  // Frame larger than 64 KiB (well below the 1 MiB hard limit): too_large, id null.
  const big = JSON.stringify({ id: 77, op: 'ping', pad: 'x'.repeat(100 * 1024) });
  a.sendRaw(big);
  assertError(await a.nextNullReply(), 'too_large', { id: null });
  await assertHealthy(a, 'a 100 KiB frame');
  // Exactly 64 KiB is still accepted; one byte more is not.
  const exact = (n) => {
    const head = JSON.stringify({ id: 78, op: 'ping', pad: '' });
    const f = JSON.stringify({ id: 78, op: 'ping', pad: 'y'.repeat(n - head.length) });
    assert.equal(Buffer.byteLength(f), n);
    return f;
  };
  const atLimit = a.request(JSON.parse(exact(65536)));
  assert.ok((await atLimit).result, 'a 65536-byte frame is served');
  a.sendRaw(exact(65537));
  assertError(await a.nextNullReply(), 'too_large', { id: null });
  await assertHealthy(a, 'a 65537-byte frame');

  // Field limits are typed too.
  const conv = (await a.call('conv.create', { kind: 'direct', peer: 'bob' })).conversation.id;
  const [created] = await a.nextEvents(1);
  assert.equal(created.type, 'conversation.created');
  assertError(
    await a.request({ op: 'send', conv, client_msg_id: 'long', text: 'z'.repeat(16385) }),
    'too_large',
    { field: 'text' },
  );
  assertError(await a.request({ op: 'send', conv, client_msg_id: 'bad id!', text: 'x' }), 'invalid', {
    field: 'client_msg_id',
  });
  assertError(await a.request({ op: 'history', conv, limit: 201 }), 'invalid', { field: 'limit' });
  await assertHealthy(a, 'field errors');

  // A non-member cannot see the conversation: not_found, exactly as for an id never used.
  const c = await WsClient.open(srv, cat.token);
  t.after(() => c.terminate());
  const never = 987654;
  for (const [op, args] of [
    ['send', { client_msg_id: 'intrude-1', text: 'let me in' }],
    ['history', {}],
    ['history', { after: 0 }],
    ['conv.get', {}],
  ]) {
    const other = await c.request({ op, conv, ...args });
    assertError(other, 'not_found');
    const missing = await c.request({ op, conv: never, ...args });
    assertError(missing, 'not_found');
    assert.deepEqual(other.error, missing.error, `${op}: someone else's conversation looks like a missing one`);
  }
  await assertHealthy(c, 'not_found errors');
  // Same over REST.
  for (const [method, path, body] of [
    ['POST', `/v1/conversations/${conv}/messages`, { client_msg_id: 'intrude-2', text: 'x' }],
    ['GET', `/v1/conversations/${conv}/events`],
    ['GET', `/v1/conversations/${conv}`],
  ]) {
    const r = await rest(srv, method, path, { token: cat.token, body });
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.equal(r.body?.error?.code, 'not_found');
  }
  // Nothing reached the conversation.
  const hist = await a.call('history', { conv });
  assert.deepEqual(
    hist.events.map((e) => e.type),
    ['conversation.created'],
  );

  // Wrong token in `auth`: unauthenticated; the socket stays usable and a right token works.
  const u = await WsClient.connect(srv);
  t.after(() => u.terminate());
  assertError(await u.request({ op: 'history', conv }), 'unauthenticated');
  assertError(await u.request({ op: 'sync' }), 'unauthenticated');
  assertError(await u.request({ op: 'auth', token: 'pt_' + 'A'.repeat(43) }), 'unauthenticated');
  await assertHealthy(u, 'a wrong token');
  assertError(await u.request({ op: 'auth', token: 'not even a token' }), 'unauthenticated');
  await assertHealthy(u, 'a malformed token');
  const ok = await u.call('auth', { token: ann.token });
  assert.equal(ok.user.id, ann.id);
  await assertHealthy(u, 'auth');

  for (const [name, client] of [['ann', a], ['cat', c], ['unauthenticated', u]]) {
    await client.expectQuiet(200);
    assertClean(client, name);
  }
});

test('a WebSocket upgrade with a bad Authorization header is refused with HTTP 401', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');

  const wrong = await expectUpgradeRefused(srv, { Authorization: `Bearer pt_${'B'.repeat(43)}` });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json?.error?.code, 'unauthenticated');

  const notBearer = await expectUpgradeRefused(srv, { Authorization: `Basic ${Buffer.from('ann:x').toString('base64')}` });
  assert.equal(notBearer.status, 401);

  // The valid token still upgrades, and after logout the same token is refused.
  const c = await WsClient.connect(srv, { token: ann.token });
  t.after(() => c.terminate());
  await assertHealthy(c, 'connect');
  await c.call('logout');
  assert.equal((await c.waitClosed()).code, 4003);
  const revoked = await expectUpgradeRefused(srv, { Authorization: `Bearer ${ann.token}` });
  assert.equal(revoked.status, 401);
  assertClean(c, 'ann');
});
