// A WebSocket client written against the bytes (RFC 6455 / RFC 7692), for conformance tests:
// it sends whatever frames a test builds (bad ones included) and records every frame the
// server sends, the close frame, and when the server ended the TCP connection.
//
//   const ws = await RawWs.connect(srv.port, { token, extensions });
//   ws.send(frame(OP.TEXT, '{"id":1,"op":"ping"}'));
//   await ws.reply(1);                      // the reply with id 1 (parsed JSON)
//   await ws.expectClose(1002);             // the close frame's code, then the server's FIN
//
// Every wait has a timeout and fails with what was received so far.
import net from 'node:net';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import assert from 'node:assert/strict';

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function toBuf(payload) {
  if (payload === undefined || payload === null) return Buffer.alloc(0);
  return Buffer.isBuffer(payload) ? Buffer.from(payload) : Buffer.from(payload, 'utf8');
}

// One client frame. `rsv` is the 3-bit RSV field as Autobahn numbers it (4 = RSV1, 2 = RSV2,
// 1 = RSV3); `declaredLength` puts a length in the header other than the payload's.
export function frame(op, payload, { fin = true, rsv = 0, mask = true, declaredLength, key } = {}) {
  const body = toBuf(payload);
  const len = declaredLength ?? body.length;
  const b0 = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (op & 0x0f);
  const m = mask ? 0x80 : 0;
  let head;
  if (len < 126) {
    head = Buffer.from([b0, m | len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = b0;
    head[1] = m | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = m | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!mask) return Buffer.concat([head, body]);
  const k = key ?? crypto.randomBytes(4);
  for (let i = 0; i < body.length; ++i) body[i] ^= k[i & 3];
  return Buffer.concat([head, k, body]);
}

// The payload of a close frame: nothing (code undefined), or the code and a reason.
export function closePayload(code, reason = '') {
  if (code === undefined) return Buffer.alloc(0);
  const c = Buffer.alloc(2);
  c.writeUInt16BE(code);
  return Buffer.concat([c, toBuf(reason)]);
}

// A permessage-deflate payload: raw deflate with a sync flush, its 00 00 ff ff cut off.
export function deflateMessage(payload) {
  const z = zlib.deflateRawSync(toBuf(payload), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual([...z.subarray(z.length - 4)], [0, 0, 0xff, 0xff]);
  return z.subarray(0, z.length - 4);
}

// Inflates one permessage-deflate payload on its own (no context from earlier messages),
// with a window of `windowBits`.
export function inflateMessage(payload, windowBits = 15) {
  return zlib.inflateRawSync(Buffer.concat([payload, SYNC_TAIL]), {
    windowBits,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
}

// A ping request (`{"id":id,"op":"ping"}`) padded with a "pad" string to exactly `size`
// bytes (at least the unpadded size); `padBytes` (a Buffer) goes inside the pad string.
export function pingRequest(id, { size, padBytes } = {}) {
  const bare = Buffer.from(JSON.stringify({ id, op: 'ping' }));
  if (size === undefined && !padBytes) return bare;
  const pre = Buffer.from(`{"id":${JSON.stringify(id)},"op":"ping","pad":"`);
  const post = Buffer.from('"}');
  const inner = padBytes ?? Buffer.alloc(0);
  const fill = size === undefined ? 0 : size - pre.length - post.length - inner.length;
  if (fill < 0) throw new Error(`a ping request with that pad needs more than ${size} bytes`);
  return Buffer.concat([pre, inner, Buffer.alloc(fill, 0x61), post]);
}

function parseHeaders(text) {
  const lines = text.split('\r\n');
  const status = lines.shift();
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  return { status, headers };
}

export class RawWs {
  // Opens a TCP connection and upgrades it (Authorization: Bearer <token> unless token is
  // null; Sec-WebSocket-Extensions: `extensions` if given). Throws unless the answer is 101
  // with the right Sec-WebSocket-Accept.
  static async connect(port, { token, extensions, headers = {}, timeoutMs = 5000 } = {}) {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    const ws = new RawWs(sock);
    await ws.#waitUntil(() => ws.connected || ws.endedAt !== null, timeoutMs, 'TCP connect');
    if (!ws.connected) throw new Error(`cannot connect: ${ws.problems.join('; ')}`);
    const key = crypto.randomBytes(16).toString('base64');
    const extra = { ...headers };
    if (token) extra.Authorization = `Bearer ${token}`;
    if (extensions !== undefined && extensions !== null) extra['Sec-WebSocket-Extensions'] = extensions;
    sock.write(
      'GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        Object.entries(extra).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
        '\r\n',
    );
    await ws.#waitUntil(() => ws.status !== null || ws.endedAt !== null, timeoutMs, 'upgrade response');
    if (ws.status === null) throw new Error('connection ended before the upgrade response');
    if (!/^HTTP\/1\.1 101 /.test(ws.status)) {
      sock.destroy();
      throw new Error(`upgrade refused: ${ws.status}`);
    }
    const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
    assert.equal(ws.headers['sec-websocket-accept'], accept, 'Sec-WebSocket-Accept');
    const ext = ws.headers['sec-websocket-extensions'];
    if (ext && /^permessage-deflate\b/i.test(ext)) {
      ws.deflate = true;
      const m = /server_max_window_bits=(\d+)/.exec(ext);
      ws.serverWindowBits = m ? Number(m[1]) : 15;
    }
    ws.openedAt = Date.now();
    return ws;
  }

  constructor(sock) {
    this.sock = sock;
    this.connected = false;
    this.status = null; // the HTTP status line of the upgrade response
    this.headers = {}; // its headers, names in lower case
    this.deflate = false; // permessage-deflate agreed
    this.serverWindowBits = 15;
    this.frames = []; // {fin, rsv, op, payload (as sent, not inflated), masked, at}
    this.closeFrame = null; // the first close frame: {code, reason, payload, at}
    this.afterClose = []; // frames the server sent after its close frame (must stay empty)
    this.endedAt = null; // when the server ended the TCP connection (FIN, reset or close)
    this.openedAt = null;
    this.problems = []; // what the server did wrong at the framing level
    this.nextId = 1;
    this.buf = Buffer.alloc(0);
    this.waiters = new Set();
    sock.on('connect', () => {
      this.connected = true;
      this.#wake();
    });
    sock.on('data', (d) => this.#onData(d));
    sock.on('end', () => this.#ended('end'));
    sock.on('close', () => this.#ended('close'));
    sock.on('error', (e) => {
      this.socketError = e.code || e.message;
      this.#ended('error');
    });
  }

  #ended(how) {
    if (this.endedAt === null) {
      this.endedAt = Date.now();
      this.endedHow = how;
    }
    this.#wake();
  }

  #wake() {
    for (const w of [...this.waiters]) w();
  }

  #onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    if (this.status === null) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const { status, headers } = parseHeaders(this.buf.subarray(0, end).toString('latin1'));
      this.status = status;
      this.headers = headers;
      this.buf = this.buf.subarray(end + 4);
    }
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (masked) off += 4;
      if (b.length < off + len) break;
      let payload = Buffer.from(b.subarray(off, off + len));
      if (masked) {
        this.problems.push('the server sent a masked frame');
        const k = b.subarray(off - 4, off);
        for (let i = 0; i < payload.length; ++i) payload[i] ^= k[i & 3];
      }
      const f = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, op: b[0] & 0x0f, payload, masked, at: Date.now() };
      this.buf = b.subarray(off + len);
      if (this.closeFrame) {
        this.afterClose.push(f);
      } else {
        this.frames.push(f);
        if (f.op === OP.CLOSE) {
          this.closeFrame = {
            code: payload.length >= 2 ? payload.readUInt16BE(0) : null,
            reason: payload.subarray(2).toString('utf8'),
            payload,
            at: f.at,
          };
        }
      }
    }
    this.#wake();
  }

  // Resolves with pred()'s value once it is truthy; rejects after timeoutMs.
  #waitUntil(pred, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v;
        try {
          v = pred();
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (v) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  waitUntil(pred, timeoutMs = 3000, what = 'a condition') {
    return this.#waitUntil(pred, timeoutMs, what);
  }

  // What arrived so far, for failure messages.
  describe() {
    const fs = this.frames.slice(-6).map((f) => {
      const p = f.op === OP.TEXT && !(f.rsv & 4) ? JSON.stringify(f.payload.toString('utf8').slice(0, 120)) : f.payload.subarray(0, 16).toString('hex');
      return `op=${f.op}${f.fin ? '' : ' fin=0'}${f.rsv ? ` rsv=${f.rsv}` : ''} len=${f.payload.length} ${p}`;
    });
    const close = this.closeFrame ? `close frame code ${this.closeFrame.code}` : 'no close frame';
    const end = this.endedAt !== null ? `TCP ended (${this.endedHow}${this.socketError ? ` ${this.socketError}` : ''})` : 'TCP open';
    return `${this.frames.length} frame(s) received [${fs.join(' | ')}]; ${close}; ${end}`;
  }

  // ---- sending ----

  send(...bufs) {
    this.sock.write(Buffer.concat(bufs));
  }

  // Writes `buf` in pieces of `size` bytes, each written on its own (Nagle is off) and
  // `delayMs` apart, so that the server's reads end anywhere in a frame.
  async sendChunked(buf, size = 1, delayMs = 1) {
    for (let i = 0; i < buf.length; i += size) {
      if (this.endedAt !== null) return;
      await new Promise((resolve) => this.sock.write(buf.subarray(i, i + size), resolve));
      if (delayMs > 0) await sleep(delayMs);
    }
  }

  // Sends a ping request as a text frame; returns its id.
  sendPing(id = this.nextId++, opts) {
    this.send(frame(OP.TEXT, pingRequest(id), opts));
    return id;
  }

  // ---- what the server sent ----

  // Data messages (fragments joined, compressed ones inflated): {op, compressed, data}.
  messages() {
    const out = [];
    let cur = null;
    for (const f of this.frames) {
      if (f.op >= 8) continue;
      if (f.op !== OP.CONT) cur = { op: f.op, compressed: (f.rsv & 4) !== 0, parts: [] };
      if (!cur) continue;
      cur.parts.push(f.payload);
      if (f.fin) {
        let data = Buffer.concat(cur.parts);
        if (cur.compressed) data = inflateMessage(data, this.serverWindowBits);
        out.push({ op: cur.op, compressed: cur.compressed, data });
        cur = null;
      }
    }
    return out;
  }

  // Every JSON frame in the text messages (a message holds frames separated by \n).
  replies() {
    const out = [];
    for (const m of this.messages()) {
      if (m.op !== OP.TEXT) continue;
      for (const part of m.data.toString('utf8').split('\n')) out.push(JSON.parse(part));
    }
    return out;
  }

  repliesWithId(id) {
    return this.replies().filter((r) => r && r.id === id);
  }

  // The (first) reply with this id.
  reply(id, timeoutMs = 3000) {
    return this.#waitUntil(() => this.repliesWithId(id)[0], timeoutMs, `the reply to request ${JSON.stringify(id)}`);
  }

  // The n-th reply with id null (n counts from 1).
  nullReply(n = 1, timeoutMs = 3000) {
    return this.#waitUntil(() => this.repliesWithId(null)[n - 1], timeoutMs, `error reply #${n} with id null`);
  }

  pongs() {
    return this.frames.filter((f) => f.op === OP.PONG);
  }

  pings() {
    return this.frames.filter((f) => f.op === OP.PING);
  }

  // A pong with exactly this payload.
  pong(payload, timeoutMs = 3000) {
    const want = toBuf(payload);
    return this.#waitUntil(() => this.pongs().find((f) => f.payload.equals(want)), timeoutMs, `a pong with payload ${want.toString('hex') || '(empty)'}`);
  }

  // The connection is open and serving: a new ping request gets its reply, nothing closed.
  async assertAlive(what = 'the connection stays open') {
    const id = `alive-${this.nextId++}`;
    this.sendPing(id);
    const r = await this.reply(id).catch((e) => {
      throw new Error(`${what}: ${e.message}`);
    });
    assert.ok(r.result && r.result.ts > 0, `${what}: ping reply ${JSON.stringify(r)}`);
    assert.equal(this.closeFrame, null, `${what}: no close frame`);
    assert.equal(this.endedAt, null, `${what}: TCP still open`);
    assert.deepEqual(this.problems, [], 'framing problems');
  }

  // Waits for the server's close frame and asserts its code (one of `codes`; null stands
  // for a close frame without a code), then that the server ends the TCP connection
  // (closing handshake done) within timeoutMs, sending nothing after its close frame.
  async expectClose(codes, { timeoutMs = 3000, what = '' } = {}) {
    const want = Array.isArray(codes) ? codes : [codes];
    const label = what ? `${what}: ` : '';
    const c = await this.#waitUntil(() => this.closeFrame || this.endedAt !== null, timeoutMs, `${label}a close frame`);
    assert.ok(this.closeFrame, `${label}the server ended the connection without a close frame (wanted ${want.join(' or ')}); ${this.describe()}`);
    assert.ok(want.includes(c.code), `${label}close code ${c.code}, wanted ${want.join(' or ')}; ${this.describe()}`);
    assert.equal(c.payload.length === 1, false, `${label}a close payload of 1 byte`);
    assert.ok(c.payload.length <= 125, `${label}close payload too long`);
    await this.#waitUntil(() => this.endedAt !== null, timeoutMs, `${label}the server ending the TCP connection after its close frame`);
    assert.ok(this.endedAt - c.at < 1000, `${label}TCP ended ${this.endedAt - c.at} ms after the close frame`);
    assert.deepEqual(this.afterClose.map((f) => f.op), [], `${label}frames after the close frame`);
    assert.deepEqual(this.problems, [], `${label}framing problems`);
    return c;
  }

  // Waits until the server ends the TCP connection.
  expectEnd(timeoutMs = 3000, what = 'the server ending the TCP connection') {
    return this.#waitUntil(() => this.endedAt !== null, timeoutMs, what);
  }

  destroy() {
    this.sock.destroy();
  }
}
