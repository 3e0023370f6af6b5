// RFC 6455 / RFC 7692 conformance, ported from the case groups of the Autobahn|Testsuite
// (fuzzingclient mode: the test is the client, Parley the server), as raw-socket tests
// against the real server (lib/rawws.mjs builds the frames and parses what comes back).
//
// Parley has no echo: a text message is a JSON request. Where Autobahn expects an echo,
// the message is a ping request ({"id":N,"op":"ping"}, padded to the size wanted) and its
// reply must arrive exactly once; a binary message is answered with an `invalid` error
// with id null and the connection stays open.
//
// Every expected close checks the close code the server sends AND that the server ends
// the TCP connection right after its close frame; every "stays open" case checks that a
// later ping request is answered. Case numbers in the names are Autobahn's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';

import { startServer } from './lib/server.mjs';
import { WsClient, newUser } from './lib/client.mjs';
import {
  RawWs, OP, frame, closePayload, deflateMessage, pingRequest, sleep,
} from './lib/rawws.mjs';

const MAX_FRAME = 64 * 1024; // limits.max_frame_bytes
const HARD = 1024 * 1024; // limits.max_frame_hard_bytes
const PMD = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

let srv;
let ann;

before(async () => {
  srv = await startServer(null);
  ann = await newUser(srv, 'ann');
});

after(async () => {
  if (srv) await srv.cleanup();
});

async function open(t, opts = {}) {
  const ws = await RawWs.connect(srv.port, { token: ann.token, ...opts });
  t.after(() => ws.destroy());
  return ws;
}

const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// The ping request `id` is answered (a result with ts), exactly once.
async function answeredOnce(ws, id) {
  const r = await ws.reply(id);
  assert.ok(r.result && r.result.ts > 0, `reply to ${JSON.stringify(id)}: ${JSON.stringify(r)}`);
  await ws.assertAlive();
  assert.equal(ws.repliesWithId(id).length, 1, `the reply to ${JSON.stringify(id)} arrives exactly once`);
}

// The n-th error reply with id null has this code; the connection stays open.
async function nullError(ws, code, n = 1) {
  const r = await ws.nullReply(n);
  assert.equal(r.error && r.error.code, code, JSON.stringify(r));
  await ws.assertAlive();
}

// A failure case: the close code, the TCP end, and no pong or reply to what followed the
// offending frame (its ids in `ignored`).
async function failsWith(ws, code, { ignored = [], noPong = true, timeoutMs } = {}) {
  await ws.expectClose(code, { timeoutMs });
  if (noPong) assert.equal(ws.pongs().length, 0, 'no pong after the failure');
  for (const id of ignored) assert.equal(ws.repliesWithId(id).length, 0, `no reply to ${id} after the failure`);
}

// Sends a frame with its header one byte at a time, then the payload in `chunk`-byte
// pieces (1 ms apart when chunk is 1).
async function sendSplit(ws, buf, chunk = 1) {
  const len7 = buf[1] & 0x7f;
  const hl = (len7 === 126 ? 4 : len7 === 127 ? 10 : 2) + ((buf[1] & 0x80) ? 4 : 0);
  await ws.sendChunked(buf.subarray(0, hl), 1, 1);
  await ws.sendChunked(buf.subarray(hl), chunk, chunk === 1 ? 1 : 0);
}

// ---------------------------------------------------------------------------------------
// 1 Framing: text and binary messages of every length form, whole and across many reads.

test('1 framing: text and binary of lengths 0..65536 in 7/16/64-bit forms, whole and chopped', async (t) => {
  const lengths = [0, 125, 126, 127, 128, 65535, 65536];
  for (const op of [OP.TEXT, OP.BINARY]) {
    for (const len of lengths) {
      for (const chopped of [false, true]) {
        if (chopped && op === OP.BINARY && len > 0 && len < 65535 && len !== 125) continue; // text covers these
        const kind = op === OP.TEXT ? 'text' : 'binary';
        await t.test(`1.${op}: ${kind} ${len} bytes${chopped ? ' chopped' : ''}`, async (t) => {
          const ws = await open(t);
          const id = `m${len}`;
          const payload = op === OP.TEXT
            ? (len === 0 ? Buffer.alloc(0) : pingRequest(id, { size: len }))
            : crypto.randomBytes(len);
          const buf = frame(op, payload);
          assert.equal(buf[1] & 0x7f, len < 126 ? len : len < 65536 ? 126 : 127, 'length form');
          if (chopped) await sendSplit(ws, buf, len <= 128 ? 1 : 997);
          else ws.send(buf);
          if (op === OP.TEXT && len > 0) await answeredOnce(ws, id);
          else await nullError(ws, 'invalid'); // not JSON / binary: id null, stays open
        });
      }
    }
  }
});

// ---------------------------------------------------------------------------------------
// 2 Ping/pong.

test('2 ping/pong', async (t) => {
  const pingCases = [
    ['2.1 ping without payload', Buffer.alloc(0)],
    ['2.2 ping with a text payload', Buffer.from('Hello, world!')],
    ['2.3 ping with a binary payload', hex('00ff fefd fcfb 00ff')],
    ['2.4 ping with a 125-byte payload', crypto.randomBytes(125)],
  ];
  for (const [name, payload] of pingCases) {
    await t.test(`${name} is answered by a pong with the same payload`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.PING, payload));
      const p = await ws.pong(payload);
      assert.ok(p.fin && p.rsv === 0, 'pong is a single frame without reserved bits');
      await ws.assertAlive();
      assert.equal(ws.pongs().length, 1, 'exactly one pong');
    });
  }

  await t.test('2.5 ping with a 126-byte payload: 1002', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.PING, crypto.randomBytes(126)));
    await failsWith(ws, 1002);
  });

  await t.test('2.6 ping with 125-byte payload sent byte by byte', async (t) => {
    const ws = await open(t);
    const payload = crypto.randomBytes(125);
    await ws.sendChunked(frame(OP.PING, payload), 1, 1);
    await ws.pong(payload);
    await ws.assertAlive();
  });

  for (const [name, payload] of [['2.7 unsolicited pong without payload', Buffer.alloc(0)], ['2.8 unsolicited pong with payload', Buffer.from('unsolicited pong payload')]]) {
    await t.test(`${name} is ignored`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.PONG, payload));
      await ws.assertAlive();
      ws.send(frame(OP.PING, 'after'));
      await ws.pong('after');
      assert.deepEqual(ws.frames.filter((f) => f.op !== OP.TEXT).map((f) => f.op), [OP.PONG], 'only the pong for our ping');
    });
  }

  await t.test('2.9 unsolicited pong, then ping: one pong, for the ping', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.PONG, 'unsolicited'), frame(OP.PING, 'solicited'));
    await ws.pong('solicited');
    await ws.assertAlive();
    assert.deepEqual(ws.pongs().map((f) => f.payload.toString()), ['solicited']);
  });

  // RFC 6455 5.5.3: a pong for the most recent ping is enough (Autobahn wants all ten).
  for (const chopped of [false, true]) {
    await t.test(`2.${chopped ? 11 : 10} ten pings in a row${chopped ? ' byte by byte' : ''}: the latest is answered`, async (t) => {
      const ws = await open(t);
      const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
      const bytes = Buffer.concat(payloads.map((p) => frame(OP.PING, p)));
      if (chopped) await ws.sendChunked(bytes, 1, 0);
      else ws.send(bytes);
      await ws.pong(payloads[9]);
      await ws.assertAlive();
      const got = ws.pongs().map((f) => f.payload.toString());
      const idx = got.map((p) => payloads.indexOf(p));
      assert.ok(idx.every((i) => i >= 0), `pongs echo ping payloads: ${got}`);
      assert.ok(idx.every((v, i) => i === 0 || v > idx[i - 1]), `pongs in order, no repeats: ${got}`);
    });
  }

  await t.test('ten pings, each after the previous pong: ten pongs', async (t) => {
    const ws = await open(t);
    for (let i = 0; i < 10; ++i) {
      ws.send(frame(OP.PING, `p${i}`));
      await ws.pong(`p${i}`);
    }
    assert.equal(ws.pongs().length, 10);
    await ws.assertAlive();
  });

  await t.test('a ping between two requests: both replies and the pong', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.TEXT, pingRequest(1)), frame(OP.PING, 'between'), frame(OP.TEXT, pingRequest(2)));
    await ws.pong('between');
    await answeredOnce(ws, 1);
    await answeredOnce(ws, 2);
  });
});

// ---------------------------------------------------------------------------------------
// 3 Reserved bits: without an extension agreed, any RSV bit fails the connection.

test('3 reserved bits', async (t) => {
  const cases = [
    // [name, frames before, the bad frame, frames after, extension offer]
    ['3.1 text with RSV=1', [], frame(OP.TEXT, pingRequest(2), { rsv: 1 }), []],
    ['3.2 text, then text with RSV=2, then ping', [frame(OP.TEXT, pingRequest(1))], frame(OP.TEXT, pingRequest(2), { rsv: 2 }), [frame(OP.PING, 'x')]],
    ['3.3 text, then text with RSV=3, then ping', [frame(OP.TEXT, pingRequest(1))], frame(OP.TEXT, pingRequest(2), { rsv: 3 }), [frame(OP.PING, 'x')]],
    ['3.4 text, then text with RSV=4 (RSV1), then ping, byte by byte', [frame(OP.TEXT, pingRequest(1))], frame(OP.TEXT, pingRequest(2), { rsv: 4 }), [frame(OP.PING, 'x')], null, true],
    ['3.5 binary with RSV=5', [], frame(OP.BINARY, hex('00ff fefd'), { rsv: 5 }), [frame(OP.TEXT, pingRequest(3))]],
    ['3.6 ping with RSV=6', [], frame(OP.PING, 'x', { rsv: 6 }), [frame(OP.TEXT, pingRequest(3))]],
    ['3.7 close with RSV=7', [], frame(OP.CLOSE, closePayload(1000), { rsv: 7 }), []],
    ['RSV1 on a ping with permessage-deflate agreed', [], frame(OP.PING, 'x', { rsv: 4 }), [], 'permessage-deflate'],
    ['RSV1 on a pong with permessage-deflate agreed', [], frame(OP.PONG, 'x', { rsv: 4 }), [frame(OP.TEXT, pingRequest(3))], 'permessage-deflate'],
    ['RSV1 on a close with permessage-deflate agreed', [], frame(OP.CLOSE, closePayload(1000), { rsv: 4 }), [], 'permessage-deflate'],
    ['RSV2 on text with permessage-deflate agreed', [], frame(OP.TEXT, pingRequest(2), { rsv: 2 }), [], 'permessage-deflate'],
    ['RSV1 on a continuation with permessage-deflate agreed', [frame(OP.TEXT, '{"id":2,', { fin: false })], frame(OP.CONT, '"op":"ping"}', { rsv: 4 }), [], 'permessage-deflate'],
  ];
  for (const [name, pre, bad, post, extensions, chopped] of cases) {
    await t.test(`${name}: 1002`, async (t) => {
      const ws = await open(t, { extensions: extensions ?? undefined });
      if (extensions) assert.equal(ws.headers['sec-websocket-extensions'], PMD);
      const bytes = Buffer.concat([...pre, bad, ...post]);
      if (chopped) await ws.sendChunked(bytes, 1, 0);
      else ws.send(bytes);
      await failsWith(ws, 1002, { ignored: [2, 3] });
      assert.ok(ws.repliesWithId(1).length <= 1, 'the request before the bad frame is answered at most once');
    });
  }
});

// ---------------------------------------------------------------------------------------
// 4 Opcodes: reserved data (3-7) and control (11-15) opcodes fail the connection.

test('4 reserved opcodes', async (t) => {
  for (const op of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    const group = op < 8 ? '4.1' : '4.2';
    for (const variant of ['alone', 'after a request, with payload, then ping']) {
      await t.test(`${group} opcode ${op} ${variant}: 1002`, async (t) => {
        const ws = await open(t);
        if (variant === 'alone') {
          ws.send(frame(op, ''), frame(OP.TEXT, pingRequest(2)));
        } else {
          ws.send(frame(OP.TEXT, pingRequest(1)), frame(op, 'reserved opcode payload'), frame(OP.PING, 'x'), frame(OP.TEXT, pingRequest(2)));
        }
        await failsWith(ws, 1002, { ignored: [2] });
        assert.ok(ws.repliesWithId(1).length <= 1);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------
// Masking: client frames must be masked (RFC 6455 5.1).

test('masking: an unmasked client frame fails the connection', async (t) => {
  const cases = [
    ['unmasked text', [frame(OP.TEXT, pingRequest(2), { mask: false })]],
    ['unmasked binary', [frame(OP.BINARY, hex('0102'), { mask: false })]],
    ['unmasked ping', [frame(OP.PING, 'x', { mask: false })]],
    ['unmasked close', [frame(OP.CLOSE, closePayload(1000), { mask: false })]],
    ['masked first fragment, unmasked continuation', [frame(OP.TEXT, '{"id":2,', { fin: false }), frame(OP.CONT, '"op":"ping"}', { mask: false })]],
  ];
  for (const [name, frames] of cases) {
    await t.test(`${name}: 1002`, async (t) => {
      const ws = await open(t);
      ws.send(...frames, frame(OP.PING, 'after'));
      await failsWith(ws, 1002, { ignored: [2] });
    });
  }
});

// ---------------------------------------------------------------------------------------
// 5 Fragmentation.

test('5 fragmentation', async (t) => {
  const req = pingRequest(7); // {"id":7,"op":"ping"}
  const parts = (buf, n) => {
    const out = [];
    const step = Math.ceil(buf.length / n);
    for (let i = 0; i < buf.length; i += step) out.push(buf.subarray(i, i + step));
    return out;
  };
  const fragments = (buf, n, between = []) => {
    const ps = parts(buf, n);
    return ps.flatMap((p, i) => {
      const f = frame(i === 0 ? OP.TEXT : OP.CONT, p, { fin: i === ps.length - 1 });
      return i < ps.length - 1 ? [f, ...between] : [f];
    });
  };

  for (const [name, op] of [['5.1 ping', OP.PING], ['5.2 pong', OP.PONG], ['close', OP.CLOSE]]) {
    await t.test(`${name} in 2 fragments: 1002`, async (t) => {
      const ws = await open(t);
      const payload = op === OP.CLOSE ? closePayload(1000, 'fragmented') : Buffer.from('fragment1fragment2');
      ws.send(frame(op, payload.subarray(0, 9), { fin: false }), frame(OP.CONT, payload.subarray(9)), frame(OP.TEXT, pingRequest(2)));
      await failsWith(ws, 1002, { ignored: [2] });
    });
  }

  await t.test('5.3 text in 2 fragments is answered', async (t) => {
    const ws = await open(t);
    ws.send(...fragments(req, 2));
    await answeredOnce(ws, 7);
  });

  await t.test('5.4 text in 2 fragments, byte by byte', async (t) => {
    const ws = await open(t);
    await ws.sendChunked(Buffer.concat(fragments(req, 2)), 1, 1);
    await answeredOnce(ws, 7);
  });

  for (const n of [3, 5, req.length]) {
    await t.test(`text in ${n} fragments${n === req.length ? ' (one byte each)' : ''} is answered`, async (t) => {
      const ws = await open(t);
      ws.send(...fragments(req, n));
      await answeredOnce(ws, 7);
    });
  }

  await t.test('text with empty fragments (first, middle and last) is answered', async (t) => {
    const ws = await open(t);
    ws.send(
      frame(OP.TEXT, '', { fin: false }),
      frame(OP.CONT, req.subarray(0, 5), { fin: false }),
      frame(OP.CONT, '', { fin: false }),
      frame(OP.CONT, req.subarray(5), { fin: false }),
      frame(OP.CONT, ''),
    );
    await answeredOnce(ws, 7);
  });

  await t.test('5.6 text in 2 fragments with a ping between: pong and reply', async (t) => {
    const ws = await open(t);
    ws.send(...fragments(req, 2, [frame(OP.PING, 'in between')]));
    await ws.pong('in between');
    await answeredOnce(ws, 7);
  });

  await t.test('5.7 text in 2 fragments with a ping between, byte by byte', async (t) => {
    const ws = await open(t);
    await ws.sendChunked(Buffer.concat(fragments(req, 2, [frame(OP.PING, 'in between')])), 1, 1);
    await ws.pong('in between');
    await answeredOnce(ws, 7);
  });

  await t.test('5.19 text in 5 fragments with a ping after each, paced: 4 pongs and the reply', async (t) => {
    const ws = await open(t);
    const ps = parts(req, 5);
    for (let i = 0; i < ps.length; ++i) {
      ws.send(frame(i === 0 ? OP.TEXT : OP.CONT, ps[i], { fin: i === ps.length - 1 }));
      if (i < ps.length - 1) {
        ws.send(frame(OP.PING, `ping ${i}`));
        await ws.pong(`ping ${i}`);
        assert.equal(ws.repliesWithId(7).length, 0, 'no reply before the last fragment');
      }
    }
    await answeredOnce(ws, 7);
    assert.equal(ws.pongs().length, ps.length - 1);
  });

  await t.test('a pong and a ping between fragments: pong for the ping, reply', async (t) => {
    const ws = await open(t);
    ws.send(...fragments(req, 3, [frame(OP.PONG, 'unsolicited'), frame(OP.PING, 'mid')]));
    await answeredOnce(ws, 7);
    assert.ok(ws.pongs().length >= 1 && ws.pongs().every((f) => f.payload.toString() === 'mid'));
  });

  await t.test('binary in 3 fragments: invalid (id null), stays open', async (t) => {
    const ws = await open(t);
    const b = crypto.randomBytes(300);
    ws.send(frame(OP.BINARY, b.subarray(0, 100), { fin: false }), frame(OP.CONT, b.subarray(100, 200), { fin: false }), frame(OP.CONT, b.subarray(200)));
    await nullError(ws, 'invalid');
    assert.equal(ws.repliesWithId(null).length, 1, 'one reply for one message');
  });

  const bad = [
    ['5.9 continuation (FIN) with nothing to continue', [frame(OP.CONT, 'non-continuation payload'), frame(OP.TEXT, pingRequest(2))]],
    ['5.10 continuation (FIN) with nothing to continue, byte by byte', [frame(OP.CONT, 'non-continuation payload'), frame(OP.TEXT, pingRequest(2))], true],
    ['5.12 continuation (not FIN) with nothing to continue', [frame(OP.CONT, 'non-continuation payload', { fin: false }), frame(OP.TEXT, pingRequest(2))]],
    ['5.13 continuation (not FIN) with nothing to continue, byte by byte', [frame(OP.CONT, 'non-continuation payload', { fin: false }), frame(OP.TEXT, pingRequest(2))], true],
    ['5.15 a complete fragmented message, then a continuation with nothing to continue', [...fragments(pingRequest(1), 2), frame(OP.CONT, 'x', { fin: false }), frame(OP.TEXT, pingRequest(2))]],
    ['5.16 (cont, text not FIN, cont FIN) twice', [0, 1].flatMap(() => [frame(OP.CONT, 'a', { fin: false }), frame(OP.TEXT, 'b', { fin: false }), frame(OP.CONT, 'c')])],
    ['5.17 (cont FIN, text not FIN, cont FIN) twice', [0, 1].flatMap(() => [frame(OP.CONT, 'a'), frame(OP.TEXT, 'b', { fin: false }), frame(OP.CONT, 'c')])],
    ['5.18 text (not FIN), then a new text message', [frame(OP.TEXT, '{"id":2,', { fin: false }), frame(OP.TEXT, pingRequest(3))]],
    ['a new binary message while a text message is fragmented', [frame(OP.TEXT, '{"id":2,', { fin: false }), frame(OP.BINARY, 'x')]],
  ];
  for (const [name, frames, chopped] of bad) {
    await t.test(`${name}: 1002`, async (t) => {
      const ws = await open(t);
      const bytes = Buffer.concat([...frames, frame(OP.PING, 'after')]);
      if (chopped) await ws.sendChunked(bytes, 1, 1);
      else ws.send(bytes);
      await failsWith(ws, 1002, { ignored: [2, 3] });
      assert.ok(ws.repliesWithId(1).length <= 1);
    });
  }
});

// ---------------------------------------------------------------------------------------
// 6 UTF-8: text messages must be valid UTF-8 (RFC 3629); otherwise 1007, as early as the
// invalid byte arrives.

test('6 UTF-8 handling', async (t) => {
  const valid = [
    ['6.2 κόσμε', 'ce ba e1 bd b9 cf 83 ce bc ce b5'],
    ['6.7 U+007F', '7f'],
    ['6.7 first 2-byte U+0080', 'c2 80'],
    ['6.8 last 2-byte U+07FF', 'df bf'],
    ['6.7 first 3-byte U+0800', 'e0 a0 80'],
    ['6.11 U+D7FF', 'ed 9f bf'],
    ['6.11 U+E000', 'ee 80 80'],
    ['6.11 U+FFFD', 'ef bf bd'],
    ['6.22 noncharacters U+FFFE U+FFFF', 'ef bf be ef bf bf'],
    ['6.7 first 4-byte U+10000', 'f0 90 80 80'],
    ['4-byte U+1F600', 'f0 9f 98 80'],
    ['6.11 last code point U+10FFFF', 'f4 8f bf bf'],
    ['6.22 noncharacter U+10FFFE', 'f4 8f bf be'],
  ];
  for (const [name, bytes] of valid) {
    await t.test(`${name} is accepted`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.TEXT, pingRequest(1, { padBytes: hex(bytes) })));
      await answeredOnce(ws, 1);
    });
  }

  const invalid = [
    ['6.3 κόσμε + surrogate + "edited"', 'ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64'],
    ['6.20 lone surrogate U+D800', 'ed a0 80'],
    ['6.20 lone surrogate U+DBFF', 'ed af bf'],
    ['6.20 lone surrogate U+DFFF', 'ed bf bf'],
    ['6.21 paired surrogates U+D800 U+DC00', 'ed a0 80 ed b0 80'],
    ['6.17 overlong "/" (2 bytes)', 'c0 af'],
    ['6.17 overlong "/" (3 bytes)', 'e0 80 af'],
    ['6.17 overlong "/" (4 bytes)', 'f0 80 80 af'],
    ['6.17 overlong "/" (5 bytes)', 'f8 80 80 80 af'],
    ['6.18 largest overlong 2-byte', 'c1 bf'],
    ['6.18 largest overlong 3-byte', 'e0 9f bf'],
    ['6.18 largest overlong 4-byte', 'f0 8f bf bf'],
    ['6.19 overlong NUL', 'c0 80'],
    ['6.11 U+110000', 'f4 90 80 80'],
    ['6.10 U+1FFFFF (4 bytes)', 'f7 bf bf bf'],
    ['6.10 5-byte sequence', 'f8 88 80 80 80'],
    ['6.10 6-byte sequence', 'fc 84 80 80 80 80'],
    ['6.12 unexpected continuation byte', '80'],
    ['6.12 two continuation bytes', '80 bf'],
    ['6.13 lonely 2-byte start then space', 'c2 20'],
    ['6.13 lonely 3-byte start then space', 'e1 20'],
    ['6.13 lonely 4-byte start then space', 'f1 20'],
    ['6.14 3-byte sequence missing its last byte', 'e0 a0 22'],
    ['6.14 4-byte sequence missing its last byte', 'f0 90 80 22'],
    ['6.16 impossible byte FE', 'fe'],
    ['6.16 impossible byte FF', 'ff'],
    ['6.16 FE FE FF FF', 'fe fe ff ff'],
  ];
  for (const [name, bytes] of invalid) {
    await t.test(`${name}: 1007`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.TEXT, pingRequest(1, { padBytes: hex(bytes) })), frame(OP.TEXT, pingRequest(2)));
      await failsWith(ws, 1007, { ignored: [1, 2] });
    });
  }

  await t.test('6.14 a message ending in the middle of a sequence: 1007', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.TEXT, Buffer.concat([pingRequest(1), hex('ce')])));
    await failsWith(ws, 1007, { ignored: [1] });
  });

  // A valid sequence split across fragment boundaries, at every position.
  for (const [name, bytes] of [['U+1F600', 'f0 9f 98 80'], ['κ (2 bytes)', 'ce ba'], ['U+FFFD', 'ef bf bd']]) {
    const seq = hex(bytes);
    for (let cut = 1; cut < seq.length; ++cut) {
      await t.test(`6.x ${name} split after byte ${cut} across two fragments is accepted`, async (t) => {
        const ws = await open(t);
        const msg = pingRequest(1, { padBytes: seq });
        const at = msg.indexOf(seq) + cut;
        ws.send(frame(OP.TEXT, msg.subarray(0, at), { fin: false }), frame(OP.PING, 'mid'), frame(OP.CONT, msg.subarray(at)));
        await ws.pong('mid');
        await answeredOnce(ws, 1);
      });
    }
  }

  await t.test('6.6 κόσμε with every byte in its own fragment is accepted', async (t) => {
    const ws = await open(t);
    const msg = pingRequest(1, { padBytes: hex('ce ba e1 bd b9 cf 83 ce bc ce b5') });
    ws.send(...[...msg].map((b, i) => frame(i === 0 ? OP.TEXT : OP.CONT, Buffer.from([b]), { fin: i === msg.length - 1 })));
    await answeredOnce(ws, 1);
  });

  await t.test('invalid UTF-8 split across fragments (F4 | 90 80 80 = U+110000): 1007', async (t) => {
    const ws = await open(t);
    const msg = pingRequest(1, { padBytes: hex('f4 90 80 80') });
    const at = msg.indexOf(0xf4) + 1;
    ws.send(frame(OP.TEXT, msg.subarray(0, at), { fin: false }), frame(OP.CONT, msg.subarray(at)));
    await failsWith(ws, 1007, { ignored: [1] });
  });

  await t.test('a fragmented message ending in the middle of a sequence: 1007', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.TEXT, pingRequest(1), { fin: false }), frame(OP.CONT, hex('e0 a0')));
    await failsWith(ws, 1007, { ignored: [1] });
  });

  // 6.4.x: fail fast, before the message (or frame) is complete.
  await t.test('6.4.1 valid fragment, then a fragment with a surrogate, message unfinished: 1007 at once', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.TEXT, hex('ce ba e1 bd b9 cf 83 ce bc ce b5'), { fin: false }));
    await sleep(20);
    ws.send(frame(OP.CONT, hex('ed a0 80 65 64 69 74 65 64'), { fin: false }));
    await failsWith(ws, 1007); // the final fragment is never sent
  });

  await t.test('6.4.2 fragment ending in F4, next fragment starting with 90, unfinished: 1007 at once', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.TEXT, hex('ce ba e1 bd b9 cf 83 ce bc ce b5 f4'), { fin: false }));
    await sleep(20);
    ws.send(frame(OP.CONT, hex('90'), { fin: false }));
    await failsWith(ws, 1007);
  });

  await t.test('6.4.3 one frame, only its payload up to the invalid bytes sent: 1007 at once', async (t) => {
    const ws = await open(t);
    const payload = hex('ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80 65 64 69 74 65 64');
    const f = frame(OP.TEXT, payload);
    const hl = 6;
    ws.send(f.subarray(0, hl + 11)); // the valid part
    await sleep(20);
    ws.send(f.subarray(hl + 11, hl + 13)); // F4 90: invalid already
    await failsWith(ws, 1007); // the rest of the frame is never sent
  });

  await t.test('6.4.4 the same, the invalid bytes one at a time', async (t) => {
    const ws = await open(t);
    const payload = hex('ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80 65 64 69 74 65 64');
    const f = frame(OP.TEXT, payload);
    ws.send(f.subarray(0, 6 + 11));
    await ws.sendChunked(f.subarray(6 + 11, 6 + 13), 1, 10);
    await failsWith(ws, 1007);
  });
});

// ---------------------------------------------------------------------------------------
// 7 Close handling.

test('7 close handling', async (t) => {
  await t.test('7.1.1 a request answered, then close 1000: echoed, TCP ends', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.TEXT, pingRequest(1)));
    await ws.reply(1);
    ws.send(frame(OP.CLOSE, closePayload(1000)));
    await ws.expectClose(1000);
    assert.equal(ws.repliesWithId(1).length, 1);
  });

  await t.test('7.1.2 close twice: one close back', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.CLOSE, closePayload(1000)), frame(OP.CLOSE, closePayload(1000)));
    await ws.expectClose(1000);
    assert.equal(ws.frames.filter((f) => f.op === OP.CLOSE).length, 1);
  });

  await t.test('7.1.3 close, then ping: no pong', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.CLOSE, closePayload(1000)), frame(OP.PING, 'after close'));
    await failsWith(ws, 1000);
  });

  await t.test('7.1.4 close, then a request: not answered', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.CLOSE, closePayload(1000)), frame(OP.TEXT, pingRequest(2)));
    await failsWith(ws, 1000, { ignored: [2] });
  });

  await t.test('7.1.5 first fragment, close, last fragment: close echoed, message dropped', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.TEXT, '{"id":2,', { fin: false }), frame(OP.CLOSE, closePayload(1000)), frame(OP.CONT, '"op":"ping"}'));
    await failsWith(ws, 1000, { ignored: [2] });
  });

  await t.test('7.1.6 many requests, close, ping: close echoed, no pong, no reply twice', async (t) => {
    const ws = await open(t);
    const reqs = Array.from({ length: 20 }, (_, i) => frame(OP.TEXT, pingRequest(100 + i, { size: 4000 })));
    ws.send(...reqs, frame(OP.CLOSE, closePayload(1000)), frame(OP.PING, 'after close'), frame(OP.TEXT, pingRequest(2)));
    await failsWith(ws, 1000, { ignored: [2] });
    for (let i = 0; i < 20; ++i) assert.ok(ws.repliesWithId(100 + i).length <= 1);
  });

  await t.test('7.3.1 close without payload: close back (1000 or no code)', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.CLOSE, ''));
    await ws.expectClose([1000, null]);
  });

  await t.test('7.3.2 close with a 1-byte payload: 1002', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.CLOSE, hex('00')));
    await ws.expectClose(1002);
  });

  for (const [name, reason] of [
    ['7.3.3 code 1000, no reason', ''],
    ['7.3.4 code 1000 and a reason', 'Hello World!'],
    ['7.3.5 code 1000 and a 123-byte reason', '*'.repeat(123)],
    ['code 1000 and a multi-byte UTF-8 reason', hex('ce ba e1 bd b9 cf 83 ce bc ce b5 f0 9f 98 80')],
  ]) {
    await t.test(`${name}: echoed`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.CLOSE, closePayload(1000, reason)));
      await ws.expectClose(1000);
    });
  }

  await t.test('7.3.6 close with a 126-byte payload (code + 124-byte reason): 1002', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.CLOSE, closePayload(1000, '*'.repeat(124))));
    await ws.expectClose(1002);
  });

  // RFC 6455 8.1 / Autobahn 7.5.1: 1002 or 1007 (docs/protocol.md says 1007).
  for (const [name, reason] of [
    ['7.5.1 a reason with a surrogate', hex('ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64')],
    ['a reason cut in the middle of a sequence', hex('48 69 ce')],
    ['a reason with an overlong', hex('c0 af')],
  ]) {
    await t.test(`${name}: fails (1002 or 1007)`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.CLOSE, closePayload(1000, reason)));
      await ws.expectClose([1002, 1007]);
    });
  }

  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]) {
    await t.test(`7.7 valid close code ${code} is echoed`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.CLOSE, closePayload(code)));
      await ws.expectClose(code);
    });
  }

  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999]) {
    await t.test(`7.9 invalid close code ${code}: 1002`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.CLOSE, closePayload(code)), frame(OP.PING, 'after'));
      await failsWith(ws, 1002);
    });
  }

  // Autobahn 7.13.x: codes >= 5000 are undefined by RFC 6455 (informational cases); any of
  // 1000, the code itself or 1002 passes there.
  for (const code of [5000, 65535]) {
    await t.test(`7.13 close code ${code} (undefined by the RFC): 1000, ${code} or 1002`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.CLOSE, closePayload(code)));
      const c = await ws.expectClose([1000, code, 1002]);
      t.diagnostic(`close code ${code} answered with ${c.code}`);
    });
  }

  await t.test('server-initiated close (protocol error) then the client close: TCP ends promptly', async (t) => {
    const ws = await open(t);
    ws.send(frame(7, ''));
    await ws.waitUntil(() => ws.closeFrame, 3000, 'the close frame');
    ws.send(frame(OP.CLOSE, closePayload(1002)));
    await ws.expectClose(1002);
  });
});

// ---------------------------------------------------------------------------------------
// 9 Limits: limits.max_frame_bytes (64 KiB) -> too_large, connection stays;
// limits.max_frame_hard_bytes (1 MiB) -> 1009 as soon as a header declares more.

test('9 limits', async (t) => {
  await t.test('text of exactly max_frame_bytes (65536) is answered', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.TEXT, pingRequest(1, { size: MAX_FRAME })));
    await answeredOnce(ws, 1);
  });

  for (const size of [MAX_FRAME + 1, 256 * 1024, HARD]) {
    await t.test(`9.1 text of ${size} bytes: too_large (id null), stays open`, async (t) => {
      const ws = await open(t);
      ws.send(frame(OP.TEXT, pingRequest(1, { size })));
      await nullError(ws, 'too_large');
      assert.equal(ws.repliesWithId(1).length, 0);
    });
  }

  await t.test('9.2 binary of 256 KiB: too_large or invalid (id null), stays open', async (t) => {
    const ws = await open(t);
    ws.send(frame(OP.BINARY, crypto.randomBytes(256 * 1024)));
    const r = await ws.nullReply();
    assert.ok(['too_large', 'invalid'].includes(r.error?.code), JSON.stringify(r));
    await ws.assertAlive();
  });

  await t.test('9.3 text of 200 KiB in 4 KiB fragments: too_large, stays open', async (t) => {
    const ws = await open(t);
    const msg = pingRequest(1, { size: 200 * 1024 });
    const fs = [];
    for (let i = 0; i < msg.length; i += 4096) fs.push(frame(i === 0 ? OP.TEXT : OP.CONT, msg.subarray(i, i + 4096), { fin: i + 4096 >= msg.length }));
    ws.send(...fs);
    await nullError(ws, 'too_large');
  });

  await t.test('text of 64 KiB in 1 KiB fragments is answered', async (t) => {
    const ws = await open(t);
    const msg = pingRequest(1, { size: MAX_FRAME });
    const fs = [];
    for (let i = 0; i < msg.length; i += 1024) fs.push(frame(i === 0 ? OP.TEXT : OP.CONT, msg.subarray(i, i + 1024), { fin: i + 1024 >= msg.length }));
    ws.send(...fs);
    await answeredOnce(ws, 1);
  });

  for (const [name, op] of [['text', OP.TEXT], ['binary', OP.BINARY]]) {
    await t.test(`9.1 ${name} declaring ${HARD + 1} bytes: 1009 without the payload being sent`, async (t) => {
      const ws = await open(t);
      ws.send(frame(op, 'abc', { declaredLength: HARD + 1 })); // header + 3 bytes only
      await ws.expectClose(1009);
    });
  }

  await t.test('fragments adding up to more than 1 MiB: 1009 at the header that crosses it', async (t) => {
    const ws = await open(t);
    const chunk = crypto.randomBytes(64 * 1024).toString('base64').slice(0, 64 * 1024);
    const fs = [];
    for (let i = 0; i < 16; ++i) fs.push(frame(i === 0 ? OP.TEXT : OP.CONT, chunk, { fin: false })); // exactly 1 MiB
    ws.send(...fs);
    ws.send(frame(OP.CONT, 'x', { declaredLength: 1 })); // 1 MiB + 1
    await ws.expectClose(1009);
  });

  await t.test('a 64-bit length with the most significant bit set: fails (1002 or 1009)', async (t) => {
    const ws = await open(t);
    const f = frame(OP.TEXT, '', { declaredLength: 65536 });
    f[2] |= 0x80; // length 2^63 + 65536
    ws.send(f);
    await ws.expectClose([1002, 1009]);
  });

  await t.test('text above max_frame_bytes with invalid UTF-8: 1007 (validated even when too large)', async (t) => {
    const ws = await open(t);
    const msg = pingRequest(1, { size: 100 * 1024 });
    msg[50 * 1024] = 0xff;
    ws.send(frame(OP.TEXT, msg));
    await failsWith(ws, 1007, { ignored: [1] });
    assert.equal(ws.repliesWithId(null).length, 0);
  });

  await t.test('9.7 sixty requests in one write: each answered exactly once', async (t) => {
    const ws = await open(t);
    ws.send(...Array.from({ length: 60 }, (_, i) => frame(OP.TEXT, pingRequest(1000 + i, { size: 1000 }))));
    await ws.waitUntil(() => Array.from({ length: 60 }, (_, i) => ws.repliesWithId(1000 + i).length).every((n) => n > 0), 5000, '60 replies');
    await ws.assertAlive();
    for (let i = 0; i < 60; ++i) assert.equal(ws.repliesWithId(1000 + i).length, 1, `reply ${1000 + i}`);
  });
});

// ---------------------------------------------------------------------------------------
// 12/13 permessage-deflate (RFC 7692).

test('12/13 permessage-deflate', async (t) => {
  // Offers and what the server must answer (null: no extension).
  const offers = [
    ['permessage-deflate', PMD],
    ['permessage-deflate; client_max_window_bits', PMD],
    ['permessage-deflate; client_no_context_takeover', PMD],
    ['permessage-deflate; server_no_context_takeover', PMD],
    ['permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits', PMD],
    ['permessage-deflate; server_max_window_bits=15', PMD],
    ['permessage-deflate; server_max_window_bits=10', `${PMD}; server_max_window_bits=10`],
    ['permessage-deflate; server_max_window_bits=9', `${PMD}; server_max_window_bits=9`],
    ['x-webkit-deflate-frame, permessage-deflate', PMD],
    ['permessage-deflate; foo', null],
    ['permessage-deflate; foo=1', null],
    ['permessage-deflate; server_max_window_bits=7', null],
    ['permessage-deflate; server_max_window_bits=16', null],
    ['permessage-deflate; server_max_window_bits', null],
    ['permessage-deflate; client_max_window_bits=16', null],
    ['permessage-deflate; server_no_context_takeover=1', null],
    ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', null],
    ['x-webkit-deflate-frame', null],
    // RFC 7692 5: an offer with a parameter not defined for it MUST be declined, whatever
    // follows it in the header.
    ['permessage-deflate; foo, x-webkit-deflate-frame', null],
  ];
  for (const [offer, want] of offers) {
    await t.test(`13 offer "${offer}" -> ${want === null ? 'no extension' : `"${want}"`}`, async (t) => {
      const ws = await open(t, { extensions: offer });
      assert.equal(ws.headers['sec-websocket-extensions'], want ?? undefined);
      if (want) ws.send(frame(OP.TEXT, deflateMessage(pingRequest(1)), { rsv: 4 }));
      else ws.send(frame(OP.TEXT, pingRequest(1)));
      await answeredOnce(ws, 1);
    });
  }

  // RFC 7692 7.1.2.1: the server accepts server_max_window_bits "with the same or smaller
  // value as the offer" (or declines the offer).
  await t.test('13 offer "server_max_window_bits=8": answered with 8 or declined, never more', async (t) => {
    const ws = await open(t, { extensions: 'permessage-deflate; server_max_window_bits=8' });
    const got = ws.headers['sec-websocket-extensions'];
    assert.ok(got === undefined || got === `${PMD}; server_max_window_bits=8`, `response: ${got}`);
  });

  const sizes = [0, 200, 1000, 10_000, MAX_FRAME];
  for (const size of sizes) {
    for (const random of [false, true]) {
      if (random && size < 1000) continue;
      await t.test(`12 compressed request of ${size || 'minimal'} bytes${random ? ' (incompressible pad)' : ''} is answered`, async (t) => {
        const ws = await open(t, { extensions: 'permessage-deflate' });
        const msg = size === 0 ? pingRequest(1) : random
          ? pingRequest(1, { padBytes: Buffer.from(crypto.randomBytes(size).toString('base64').slice(0, size - 40)), size })
          : pingRequest(1, { size });
        ws.send(frame(OP.TEXT, deflateMessage(msg), { rsv: 4 }));
        await answeredOnce(ws, 1);
      });
    }
  }

  await t.test('12 compressed request ending with a final (BFINAL) block is answered', async (t) => {
    const ws = await open(t, { extensions: 'permessage-deflate' });
    ws.send(frame(OP.TEXT, zlib.deflateRawSync(pingRequest(1)), { rsv: 4 }));
    await answeredOnce(ws, 1);
  });

  await t.test('12 compressed empty message (00): invalid (id null), stays open', async (t) => {
    const ws = await open(t, { extensions: 'permessage-deflate' });
    ws.send(frame(OP.TEXT, hex('00'), { rsv: 4 }));
    await nullError(ws, 'invalid');
  });

  await t.test('12 uncompressed request on a deflate connection is answered', async (t) => {
    const ws = await open(t, { extensions: 'permessage-deflate' });
    ws.send(frame(OP.TEXT, pingRequest(1)));
    await answeredOnce(ws, 1);
  });

  await t.test('12 compressed requests back to back, each compressed on its own', async (t) => {
    const ws = await open(t, { extensions: 'permessage-deflate' });
    ws.send(...[1, 2, 3, 4, 5].map((id) => frame(OP.TEXT, deflateMessage(pingRequest(id, { size: 500 })), { rsv: 4 })));
    for (const id of [1, 2, 3, 4, 5]) await answeredOnce(ws, id);
  });

  for (const n of [2, 3, 'every byte']) {
    await t.test(`12 compressed request in ${n === 'every byte' ? 'one-byte' : n} fragments, a ping between, is answered`, async (t) => {
      const ws = await open(t, { extensions: 'permessage-deflate' });
      const z = deflateMessage(pingRequest(1, { size: 3000 }));
      const step = n === 'every byte' ? 1 : Math.ceil(z.length / n);
      const fs = [];
      for (let i = 0; i < z.length; i += step) {
        fs.push(frame(i === 0 ? OP.TEXT : OP.CONT, z.subarray(i, i + step), { fin: i + step >= z.length, rsv: i === 0 ? 4 : 0 }));
        if (i === 0) fs.push(frame(OP.PING, 'mid'));
      }
      ws.send(...fs);
      await ws.pong('mid');
      await answeredOnce(ws, 1);
    });
  }

  await t.test('12 compressed request whose first fragment is empty is answered', async (t) => {
    const ws = await open(t, { extensions: 'permessage-deflate' });
    ws.send(frame(OP.TEXT, '', { fin: false, rsv: 4 }), frame(OP.CONT, deflateMessage(pingRequest(1))));
    await answeredOnce(ws, 1);
  });

  await t.test('12 compressed text that inflates to invalid UTF-8: 1007', async (t) => {
    const ws = await open(t, { extensions: 'permessage-deflate' });
    ws.send(frame(OP.TEXT, deflateMessage(pingRequest(1, { padBytes: hex('ed a0 80') })), { rsv: 4 }));
    await failsWith(ws, 1007, { ignored: [1] });
  });

  // As uncompressed text above max_frame_bytes is (see 9), and as docs/protocol.md says:
  // "inflates to invalid UTF-8 in a text message, closes with 1007".
  await t.test('12 compressed text inflating above max_frame_bytes with invalid UTF-8: 1007', async (t) => {
    const ws = await open(t, { extensions: 'permessage-deflate' });
    const msg = pingRequest(1, { size: 100 * 1024 });
    msg[50 * 1024] = 0xff;
    ws.send(frame(OP.TEXT, deflateMessage(msg), { rsv: 4 }));
    await failsWith(ws, 1007, { ignored: [1], timeoutMs: 1500 });
  });

  // Server replies: conv.list over 256 bytes goes out compressed.
  const titles = Array.from({ length: 4 }, () => crypto.randomBytes(160).toString('base64').replace(/[^A-Za-z0-9]/g, 'q').slice(0, 190));
  const c = await WsClient.open(srv, ann.token, { sync: false });
  try {
    // Each title comes back every fourth conversation, i.e. more than 1 KiB further on.
    for (let i = 0; i < 16; ++i) await c.call('conv.create', { kind: 'group', title: titles[i % 4] });
  } finally {
    c.terminate();
  }
  const list = JSON.stringify({ id: 'list', op: 'conv.list' });

  await t.test('12 replies above 256 bytes come compressed and inflate on their own (no context takeover)', async (t) => {
    const plain = await open(t);
    plain.send(frame(OP.TEXT, list));
    const want = await plain.reply('list');
    assert.equal(want.result.conversations.length >= 16, true);
    assert.equal(plain.frames.filter((f) => f.op === OP.TEXT).every((f) => f.rsv === 0), true);

    const ws = await open(t, { extensions: 'permessage-deflate' });
    ws.send(frame(OP.TEXT, list));
    await ws.waitUntil(() => ws.frames.length >= 1);
    ws.send(frame(OP.TEXT, list.replace('"list"', '"list2"')));
    await ws.waitUntil(() => ws.frames.length >= 2);
    const [a, b] = ws.frames;
    for (const [f, id] of [[a, 'list'], [b, 'list2']]) {
      assert.equal(f.op, OP.TEXT);
      assert.equal(f.rsv, 4, 'RSV1: compressed');
      assert.ok(f.fin);
      // A fresh inflater per message, with 00 00 ff ff appended.
      const text = zlib.inflateRawSync(Buffer.concat([f.payload, hex('0000ffff')]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString('utf8');
      const r = JSON.parse(text);
      assert.equal(r.id, id);
      assert.deepEqual(r.result, want.result);
      assert.ok(f.payload.length < text.length / 2, `compressed ${f.payload.length} of ${text.length} bytes`);
    }
    await ws.assertAlive();
    const small = ws.frames.find((f) => f.op === OP.TEXT && f !== a && f !== b);
    assert.equal(small.rsv, 0, 'a reply under 256 bytes is not compressed');
  });

  // The reply must inflate with a 1 KiB window (zlib checks distances against the window
  // only across output chunks, hence the small chunkSize).
  const strictInflate = (payload, windowBits) => zlib.inflateRawSync(Buffer.concat([payload, hex('0000ffff')]),
    { windowBits, chunkSize: 64, finishFlush: zlib.constants.Z_SYNC_FLUSH });

  await t.test('13 server_max_window_bits=10 is honoured: the reply inflates with a 1 KiB window', async (t) => {
    const ws = await open(t, { extensions: 'permessage-deflate; server_max_window_bits=10' });
    assert.equal(ws.headers['sec-websocket-extensions'], `${PMD}; server_max_window_bits=10`);
    ws.send(frame(OP.TEXT, list));
    await ws.waitUntil(() => ws.frames.length >= 1);
    const f = ws.frames[0];
    assert.equal(f.rsv, 4, 'compressed');
    const r = JSON.parse(strictInflate(f.payload, 10).toString('utf8'));
    assert.equal(r.id, 'list');
    assert.ok(r.result.conversations.length >= 16);

    // The check has teeth: the same reply compressed with the full window does not inflate
    // with 1 KiB.
    const full = await open(t, { extensions: 'permessage-deflate' });
    full.send(frame(OP.TEXT, list));
    await full.waitUntil(() => full.frames.length >= 1);
    assert.throws(() => strictInflate(full.frames[0].payload, 10), /distance too far back/);
  });
});

// ---------------------------------------------------------------------------------------
// Heartbeats: with websocket.heartbeat_timeout_ms = 1000 the server pings after 500 ms of
// silence and drops a peer silent for the whole 1000 ms.

test('heartbeat: a silent client is pinged, then dropped; an answering one stays', async (t) => {
  const hb = await startServer(t, { extraArgs: ['--set', 'websocket.heartbeat_timeout_ms=1000'] });
  const bob = await newUser(hb, 'bob');
  const [silent, answering] = await Promise.all([
    RawWs.connect(hb.port, { token: bob.token }),
    RawWs.connect(hb.port, { token: bob.token }),
  ]);
  t.after(() => {
    silent.destroy();
    answering.destroy();
  });
  // The answering client pongs every ping with its payload.
  let answered = 0;
  const pump = setInterval(() => {
    const pings = answering.pings();
    while (answered < pings.length) answering.send(frame(OP.PONG, pings[answered++].payload));
  }, 20);
  t.after(() => clearInterval(pump));

  const ping = await silent.waitUntil(() => silent.pings()[0], 1000, 'a heartbeat ping');
  const pingAfter = ping.at - silent.openedAt;
  t.diagnostic(`silent client: pinged after ${pingAfter} ms`);
  assert.ok(pingAfter >= 350 && pingAfter <= 800, `first ping after ${pingAfter} ms (heartbeat_timeout_ms / 2 = 500)`);
  await silent.expectEnd(1500, 'the server dropping the silent client');
  const endAfter = silent.endedAt - silent.openedAt;
  t.diagnostic(`silent client: dropped after ${endAfter} ms (${silent.endedHow}), close frame: ${silent.closeFrame ? silent.closeFrame.code : 'none'}`);
  assert.ok(endAfter >= 850 && endAfter <= 1600, `dropped after ${endAfter} ms (heartbeat_timeout_ms = 1000)`);
  assert.equal(silent.pings().length, 1, 'one ping before the drop');

  await sleep(Math.max(0, 1800 - (Date.now() - answering.openedAt)));
  assert.ok(answering.pings().length >= 2, `the answering client was pinged ${answering.pings().length} times`);
  assert.equal(answering.endedAt, null, 'the answering client is still connected');
  await answering.assertAlive();
});
