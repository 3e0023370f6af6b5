// Connection-level limits and REST error shapes: 1 MiB messages close with 1009, the auth
// timeout closes with 4001, JSON depth, and the REST status codes of docs/protocol.md.
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import assert from 'node:assert/strict';

import { startServer } from './lib/server.mjs';
import { WsClient, newUser, rest } from './lib/client.mjs';
import { assertClean } from './lib/assertions.mjs';

test('a WebSocket message over 1 MiB closes the connection with 1009; others are unaffected', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const victim = await WsClient.open(srv, ann.token);
  t.after(() => victim.terminate());
  const bystander = await WsClient.open(srv, ann.token);
  t.after(() => bystander.terminate());

  victim.sendRaw(JSON.stringify({ id: 1, op: 'ping', pad: 'x'.repeat(1536 * 1024) }));
  const closed = await victim.waitClosed();
  assert.equal(closed.code, 1009);
  const pong = await bystander.call('ping');
  assert.ok(Number.isSafeInteger(pong.ts));
  assertClean(bystander, 'bystander');
});

test('JSON nested deeper than 32 levels is invalid and the connection stays open', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const c = await WsClient.open(srv, ann.token);
  t.after(() => c.terminate());
  const deep = (n) => '['.repeat(n) + ']'.repeat(n);
  c.sendRaw(`{"id":1,"op":"ping","x":${deep(40)}}`);
  const r = await c.nextNullReply();
  assert.equal(r.error?.code, 'invalid', JSON.stringify(r));
  // Within the limit it is just an ignored argument.
  const ok = await c.request({ op: 'ping', x: JSON.parse(deep(20)) });
  assert.ok(ok.result, JSON.stringify(ok));
  assertClean(c);
});

test('an unauthenticated WebSocket is closed with 4001 after websocket.auth_timeout_ms', async (t) => {
  const AUTH_TIMEOUT_MS = 1000;
  const srv = await startServer(t, { extraArgs: ['--set', `websocket.auth_timeout_ms=${AUTH_TIMEOUT_MS}`] });
  const ann = await newUser(srv, 'ann');
  const lazy = await WsClient.connect(srv);
  t.after(() => lazy.terminate());
  // Requests that need no authentication are served meanwhile, but do not count.
  assert.ok(Number.isSafeInteger((await lazy.call('ping')).ts));
  const prompt = await WsClient.connect(srv);
  const promptAt = Date.now();
  t.after(() => prompt.terminate());
  await prompt.call('auth', { token: ann.token });

  const closed = await lazy.waitClosed({ timeoutMs: AUTH_TIMEOUT_MS + 5_000 });
  assert.equal(closed.code, 4001);
  // The authenticated one outlives its own timeout.
  const left = promptAt + AUTH_TIMEOUT_MS + 300 - Date.now();
  if (left > 0) await delay(left);
  await prompt.call('ping');
  assert.equal(prompt.closeInfo, null);
  assertClean(prompt);
});

test('REST error shapes: 400, 401, 404, 405, 409, 413 and healthz', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');

  const health = await rest(srv, 'GET', '/healthz');
  assert.equal(health.status, 200);
  assert.deepEqual(health.body, { status: 'ok' });

  const expectError = (r, status, code, what) => {
    assert.equal(r.status, status, `${what}: ${r.text}`);
    assert.equal(r.body?.error?.code, code, `${what}: ${r.text}`);
    assert.equal(typeof r.body.error.message, 'string');
  };
  expectError(await rest(srv, 'GET', '/v1/conversations'), 401, 'unauthenticated', 'no token');
  expectError(await rest(srv, 'GET', '/v1/conversations', { token: 'pt_nope' }), 401, 'unauthenticated', 'bad token');
  expectError(
    await rest(srv, 'POST', '/v1/login', { body: { handle: 'ann', password: 'wrong password' } }),
    401,
    'unauthenticated',
    'wrong password',
  );
  expectError(
    await rest(srv, 'POST', '/v1/login', { body: { handle: 'nobody', password: 'whatever123' } }),
    401,
    'unauthenticated',
    'unknown handle',
  );
  expectError(await rest(srv, 'GET', '/v1/nothing-here', { token: ann.token }), 404, 'not_found', 'unknown path');
  expectError(await rest(srv, 'DELETE', '/v1/conversations', { token: ann.token }), 405, 'invalid', 'wrong method');
  expectError(
    await rest(srv, 'POST', '/v1/conversations', { token: ann.token, rawBody: '{"kind":' }),
    400,
    'invalid',
    'malformed JSON body',
  );
  expectError(
    await rest(srv, 'POST', '/v1/register', { body: { handle: 'ann', password: 'another password' } }),
    409,
    'conflict',
    'handle taken',
  );
  const reg = await rest(srv, 'POST', '/v1/register', { body: { handle: 'x', password: 'short' } });
  expectError(reg, 400, 'invalid', 'bad handle');
  assert.equal(reg.body.error.field, 'handle');
  expectError(
    await rest(srv, 'POST', '/v1/conversations', {
      token: ann.token,
      body: { kind: 'group', title: 'x'.repeat(70 * 1024) },
    }),
    413,
    'too_large',
    'body over 64 KiB',
  );
  // The server still serves after all that.
  const list = await rest(srv, 'GET', '/v1/conversations', { token: ann.token });
  assert.equal(list.status, 200);
  assert.deepEqual(list.body, { conversations: [] });
});

test('behind a trusted proxy the per-address limits count the X-Forwarded-For address', async (t) => {
  const burst = 3;
  const login = (srv, xff) =>
    rest(srv, 'POST', '/v1/login', {
      body: { handle: 'nobody', password: 'wrong password here' },
      headers: xff ? { 'X-Forwarded-For': xff } : {},
    });
  const args = ['--set', `rate.auth_address_burst=${burst}`, '--set', 'rate.auth_address_per_min=1'];
  // The test client connects from 127.0.0.1: trusted here, so each forwarded address has its
  // own bucket, and only the last entry (the proxy's) counts.
  const trusting = await startServer(t, { extraArgs: [...args, '--set', 'server.trusted_proxies=127.0.0.1'] });
  for (let i = 0; i < burst; i++) assert.equal((await login(trusting, '198.51.100.7, 203.0.113.1')).status, 401);
  assert.equal((await login(trusting, '198.51.100.8, 203.0.113.1')).status, 429);
  assert.equal((await login(trusting, '203.0.113.2')).status, 401);
  // Not trusted: the header changes nothing, everyone is 127.0.0.1.
  const plain = await startServer(t, { extraArgs: args });
  for (let i = 0; i < burst; i++) assert.equal((await login(plain, `203.0.113.${10 + i}`)).status, 401);
  assert.equal((await login(plain, '203.0.113.99')).status, 429);
});
