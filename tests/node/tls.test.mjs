// TLS inside `parley serve` with real Node clients: a self-signed certificate made at test
// time with the openssl command, REST over `https` and chat over WSS with the `ws` package
// (permessage-deflate on), both trusting only that certificate and checking the host name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

import { startServer } from './lib/server.mjs';

const PASSWORD = 'correct horse battery';

function makeCertificate(t) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-node-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert],
  { stdio: 'ignore' });
  return { cert, key, ca: readFileSync(cert) };
}

function request(srv, ca, method, path, { token, body } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request({
      host: 'localhost', port: srv.port, method, path, ca,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: text, json: () => JSON.parse(text) }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    if (data) req.write(data);
    req.end();
  });
}

async function account(srv, ca, handle) {
  const body = { handle, password: PASSWORD };
  assert.equal((await request(srv, ca, 'POST', '/v1/register', { body })).status, 200);
  const l = await request(srv, ca, 'POST', '/v1/login', { body });
  assert.equal(l.status, 200, l.body);
  return l.json().token;
}

// A WSS client: frames of one message are split on '\n'; call() waits for its reply.
async function wss(t, srv, ca, token) {
  const ws = new WebSocket(`wss://localhost:${srv.port}/v1/ws`, {
    ca, headers: { authorization: `Bearer ${token}` }, perMessageDeflate: true,
  });
  t.after(() => ws.terminate());
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const frames = [];
  let wake = null;
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) if (line) frames.push(JSON.parse(line));
    if (wake) wake();
  });
  let next = 0;
  const take = async (pred, what, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = frames.findIndex(pred);
      if (i >= 0) return frames.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`no ${what}`);
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 100); });
    }
  };
  return {
    ws,
    async call(req, timeoutMs = 5000) {
      const id = ++next;
      ws.send(JSON.stringify({ ...req, id }));
      const f = await take((f) => f.id === id, `reply to ${req.op}`, timeoutMs);
      assert.ok(f.result, JSON.stringify(f));
      return f.result;
    },
    message: (text) => take((f) => f.ev && f.ev.type === 'message.created' && f.ev.data.text === text, `message ${text.slice(0, 20)}`),
    nextMessage: () => take((f) => f.ev && f.ev.type === 'message.created', 'a message'),
  };
}

test('REST over https and chat over wss with permessage-deflate', async (t) => {
  const { cert, key, ca } = makeCertificate(t);
  const srv = await startServer(t, { extraArgs: ['--set', `tls.cert_file=${cert}`, '--set', `tls.key_file=${key}`] });
  const health = await request(srv, ca, 'GET', '/healthz');
  assert.equal(health.status, 200);
  const ann = await account(srv, ca, 'ann');
  const bob = await account(srv, ca, 'bob');
  const a = await wss(t, srv, ca, ann);
  const b = await wss(t, srv, ca, bob);
  assert.match(a.ws.extensions, /permessage-deflate/);
  await a.call({ op: 'sync' });
  await b.call({ op: 'sync' });
  const conv = (await a.call({ op: 'conv.create', kind: 'group', title: 'tls', members: ['bob'] })).conversation.id;
  const long = 'over wss '.repeat(1500);
  await a.call({ op: 'send', conv, client_msg_id: 'n1', text: long });
  await b.message(long);
  await b.call({ op: 'send', conv, client_msg_id: 'n2', text: 'short reply' });
  await a.message('short reply');
  // The same conversation over https.
  const hist = await request(srv, ca, 'GET', `/v1/conversations/${conv}/messages`, { token: bob });
  assert.equal(hist.status, 200, hist.body);
  assert.ok(hist.body.includes('short reply'));
});

test('a client that does not trust the certificate cannot connect', async (t) => {
  const { cert, key } = makeCertificate(t);
  const srv = await startServer(t, { extraArgs: ['--set', `tls.cert_file=${cert}`, '--set', `tls.key_file=${key}`] });
  await assert.rejects(request(srv, undefined, 'GET', '/healthz'), /self.signed|certificate/i);
});

test('a catch-up larger than the socket buffers arrives whole and in order over wss', async (t) => {
  const { cert, key, ca } = makeCertificate(t);
  const srv = await startServer(t, {
    extraArgs: ['--set', `tls.cert_file=${cert}`, '--set', `tls.key_file=${key}`, '--set', 'rate.enabled=off'],
  });
  const ann = await account(srv, ca, 'ann');
  const bob = await account(srv, ca, 'bob');
  const a = await wss(t, srv, ca, ann);
  await a.call({ op: 'sync' });
  const conv = (await a.call({ op: 'conv.create', kind: 'group', title: 'big', members: ['bob'] })).conversation.id;
  // Incompressible texts, so that permessage-deflate does not shrink the catch-up.
  const texts = [];
  for (let i = 0; i < 1000; ++i) {
    const text = `${i} ${crypto.randomBytes(9000).toString('base64')}`;
    texts.push(text);
    await a.call({ op: 'send', conv, client_msg_id: `big${i}`, text });
  }
  const b = await wss(t, srv, ca, bob);
  // Bob stops reading while 12 MB, more than the loopback socket buffers hold, is written
  // to him: the server's TLS writes wait for the socket and are retried when it is writable.
  b.ws._socket.pause();
  // The sync reply follows the whole replay: compressing and encrypting 12 MB takes
  // seconds under the sanitizers, so this wait is generous; it checks order, not speed.
  const synced = b.call({ op: 'sync', since: { [conv]: 0 } }, 120000);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  b.ws._socket.resume();
  await synced;
  for (const text of texts) assert.equal((await b.nextMessage()).ev.data.text, text);
});
