// permessage-deflate (RFC 7692) against the real server: what is agreed, compressed and plain
// clients in one conversation, bytes saved on a catch-up, the inflation cap (1009 for a
// decompression bomb, too_large below it), and raw frames the server must refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import crypto from 'node:crypto';

import { startServer } from './lib/server.mjs';
import { WsClient, newUser } from './lib/client.mjs';
import { assertClean, assertGapless } from './lib/assertions.mjs';

async function open(t, srv, token, opts) {
  const c = await WsClient.open(srv, token, opts);
  t.after(() => c.terminate());
  return c;
}

// Raw deflate of `buf` as a permessage-deflate payload: sync flush, trailing 00 00 ff ff cut.
function deflateMessage(buf) {
  const z = zlib.deflateRawSync(buf, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual([...z.subarray(z.length - 4)], [0, 0, 0xff, 0xff]);
  return z.subarray(0, z.length - 4);
}

// One masked client frame.
function frame(b0, payload) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([b0, 0x80 | len])
    : len < 65536 ? Buffer.from([b0, 0x80 | 126, len >> 8, len & 0xff])
      : Buffer.concat([Buffer.from([b0, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; ++i) body[i] ^= key[i & 3];
  return Buffer.concat([head, key, body]);
}

// A WebSocket opened by hand: the 101 response's headers, the uncompressed text messages
// received, and the close code the server sends after the frames written with send() (null
// if the connection ended without one).
async function rawSocket(srv, token, extensions) {
  const sock = net.connect(srv.port, '127.0.0.1');
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(`GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n` +
    (extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : '') + '\r\n');
  let buf = Buffer.alloc(0);
  let headers = null;
  const texts = [];
  const closed = new Promise((resolve) => {
    let code = null;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!headers) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        headers = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
      }
      // Server frames are unmasked; look for the close frame (opcode 8).
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f, off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        if ((buf[0] & 0x0f) === 8 && len >= 2) code = buf.readUInt16BE(off);
        if (buf[0] === 0x81) texts.push(buf.subarray(off, off + len).toString());
        buf = buf.subarray(off + len);
      }
    });
    sock.on('close', () => resolve(code));
    sock.on('error', () => {});
  });
  while (!headers) await new Promise((r) => setTimeout(r, 5));
  return { headers, texts, send: (b) => sock.write(b), closed, destroy: () => sock.destroy() };
}

test('permessage-deflate is agreed without context takeover; compressed and plain clients chat', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const a = await open(t, srv, ann.token, { deflate: true });
  const b = await open(t, srv, bob.token);
  assert.equal(a.upgradeHeaders['sec-websocket-extensions'],
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  assert.equal(b.upgradeHeaders['sec-websocket-extensions'], undefined);

  const conv = (await a.call('conv.create', { kind: 'direct', peer: 'bob' })).conversation.id;
  const long = 'compressible '.repeat(100);
  for (let i = 0; i < 20; ++i) {
    const [client, who] = i % 2 ? [b, 'b'] : [a, 'a'];
    await client.call('send', { conv, client_msg_id: `${who}${i}`, text: i % 4 < 2 ? `short ${i}` : `${long}${i}` });
  }
  const ea = await a.nextEvents(21);
  const eb = await b.nextEvents(21);
  assert.deepEqual(ea, eb);
  assertGapless(ea, conv, 1);
  assert.equal(ea[5].data.text, `short 4`);
  assert.equal(ea[3].data.text, `${long}2`);
  assertClean(a);
  assertClean(b);
});

test('a compressed catch-up of 300 messages takes well under half the bytes', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const bob = await newUser(srv, 'bob');
  const a = await open(t, srv, ann.token);
  const conv = (await a.call('conv.create', { kind: 'direct', peer: 'bob' })).conversation.id;
  const words = 'the plan for today is a review of the deploy and lunch after the meeting'.split(' ');
  // In rounds of 100: at most limits.max_inflight_requests (256) may await replies at once.
  for (let round = 0; round < 3; ++round) {
    const sends = [];
    for (let i = round * 100; i < (round + 1) * 100; ++i) {
      const text = Array.from({ length: 3 + (i % 11) }, (_, k) => words[(i * 7 + k) % words.length]).join(' ');
      sends.push(a.call('send', { conv, client_msg_id: `m${i}`, text }));
    }
    await Promise.all(sends);
  }
  const bytes = {};
  for (const deflate of [false, true]) {
    const c = await open(t, srv, bob.token, { deflate, since: {} });
    const evs = await c.nextEvents(301);
    assertGapless(evs, conv, 1);
    bytes[deflate] = c.ws._socket.bytesRead;
    assertClean(c);
  }
  const ratio = bytes[true] / bytes[false];
  assert.ok(ratio < 0.45, `compressed ${bytes[true]} bytes, plain ${bytes[false]} (ratio ${ratio.toFixed(2)})`);
});

test('a decompression bomb closes with 1009 after little input; a large inflated message gets too_large', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const c = await open(t, srv, ann.token, { deflate: true });
  // 200 KiB inflated: above limits.max_frame_bytes (64 KiB), below the hard limit (1 MiB).
  c.sendRaw(JSON.stringify({ id: 9, op: 'ping', pad: 'y'.repeat(200 * 1024) }));
  const r = await c.nextNullReply();
  assert.equal(r.error?.code, 'too_large', JSON.stringify(r));
  assert.ok((await c.call('ping')).ts > 0);

  // 64 MiB of zeros deflates to about 64 KiB on the wire.
  const bomb = Buffer.concat([Buffer.from('{"id":1,"op":"ping","pad":"'), Buffer.alloc(64 << 20, 0x30), Buffer.from('"}')]);
  c.sendRaw(bomb.toString());
  const closed = await c.waitClosed();
  assert.equal(closed.code, 1009);
  assert.ok(c.ws._socket.bytesWritten < 200 * 1024, `${c.ws._socket.bytesWritten} bytes sent`);
});

test('raw frames: RSV1 unless agreed, on a continuation, bad deflate data or bad UTF-8 inside', async (t) => {
  const srv = await startServer(t);
  const ann = await newUser(srv, 'ann');
  const ping = deflateMessage(Buffer.from('{"id":1,"op":"ping"}'));
  const PMD = 'permessage-deflate; client_max_window_bits';

  // Not agreed: RSV1 is a protocol error.
  const plain = await rawSocket(srv, ann.token, null);
  assert.doesNotMatch(plain.headers, /sec-websocket-extensions/i);
  plain.send(frame(0x80 | 0x40 | 1, ping));
  assert.equal(await plain.closed, 1002);

  // Agreed: RSV1 on a continuation frame is a protocol error.
  const cont = await rawSocket(srv, ann.token, PMD);
  assert.match(cont.headers, /sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover/i);
  cont.send(frame(0x40 | 1, ping.subarray(0, 4)));
  cont.send(frame(0x80 | 0x40 | 0, ping.subarray(4)));
  assert.equal(await cont.closed, 1002);

  // Data that is not deflate.
  const junk = await rawSocket(srv, ann.token, PMD);
  junk.send(frame(0x80 | 0x40 | 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x12, 0x34])));
  assert.equal(await junk.closed, 1007);

  // Valid deflate of invalid UTF-8.
  const utf = await rawSocket(srv, ann.token, PMD);
  utf.send(frame(0x80 | 0x40 | 1, deflateMessage(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]))));
  assert.equal(await utf.closed, 1007);

  // A fragmented compressed message with a ping in between is answered; RSV1 on the first
  // frame only.
  const frag = await rawSocket(srv, ann.token, PMD);
  frag.send(frame(0x40 | 1, ping.subarray(0, 3)));
  frag.send(frame(0x80 | 9, Buffer.from('hi')));
  frag.send(frame(0x80 | 0, ping.subarray(3)));
  for (let i = 0; i < 200 && frag.texts.length === 0; ++i) await new Promise((r) => setTimeout(r, 10));
  assert.equal(frag.texts.length, 1);
  assert.ok(JSON.parse(frag.texts[0]).result.ts > 0, frag.texts[0]);
  frag.send(frame(0x80 | 8, Buffer.from([0x03, 0xe8])));
  assert.equal(await frag.closed, 1000);
});

test('with websocket.permessage_deflate = "off" nothing is agreed', async (t) => {
  const srv = await startServer(t, { extraArgs: ['--set', 'websocket.permessage_deflate=off'] });
  const ann = await newUser(srv, 'ann');
  const c = await open(t, srv, ann.token, { deflate: true });
  assert.equal(c.upgradeHeaders['sec-websocket-extensions'], undefined);
  assert.ok((await c.call('ping')).ts > 0);
});
