#!/usr/bin/env node
// Smoke test of the benchmark peers (bench/peers/README.md). For each peer: start it on
// port 0, check /healthz, connect 3 clients to room 1 (the Socket.IO peer through its raw
// Engine.IO v4 framing over a plain `ws` WebSocket, as the C++ load generator will),
// send 5 messages from one, check that every client got broadcasts seq 1..5 in order and
// the sender got 5 acks, check ping and an unknown op, stop the peer with SIGTERM and
// check that it exits 0. Last line: "N passed, M failed"; exit status 1 on any failure.
// Usage: node bench/peers/smoke.mjs [bun|ws|socketio ...]   (after bench/peers/install.sh)

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const STEP_MS = 4000; // per wait; the whole run takes ~1 s when all is well
const TOTAL_MS = 18000;
const N_CLIENTS = 3;
const N_MSGS = 5;
const CONV = 1;

let passed = 0;
let failed = 0;
function result(name, err) {
  if (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.message ?? err}`);
  } else {
    passed++;
    console.log(`ok   ${name}`);
  }
}
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

let WebSocket;
try {
  WebSocket = createRequire(path.join(here, "package.json"))("ws");
} catch (e) {
  result("load ws from bench/peers/node_modules", new Error(`${e.message} (run bench/peers/install.sh)`));
  finish();
}

const bunBin = path.join(here, "node_modules", ".bin", "bun");
const PEERS = {
  bun: { cmd: bunBin, args: [path.join(here, "bun", "server.js"), "0"], sio: false },
  ws: { cmd: process.execPath, args: [path.join(here, "ws", "server.mjs"), "0"], sio: false },
  socketio: {
    cmd: process.execPath, args: [path.join(here, "socketio", "server.mjs"), "0"], sio: true,
  },
};

function withTimeout(promise, what, ms = STEP_MS) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// Starts a peer and resolves with {proc, port} once it printed its listening line.
function startPeer(peer) {
  if (!existsSync(peer.cmd)) throw new Error(`${peer.cmd} missing (run bench/peers/install.sh)`);
  const proc = spawn(peer.cmd, peer.args, { stdio: ["ignore", "pipe", "pipe"], env: process.env });
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((res) => proc.on("exit", (code, signal) => res({ code, signal })));
  const ready = new Promise((res, rej) => {
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /^listening on 127\.0\.0\.1:(\d+)$/m.exec(out);
      if (m && Number(m[1]) > 0) res(Number(m[1]));
    });
    proc.on("error", rej);
    exited.then(({ code, signal }) =>
      rej(new Error(`exited early (code ${code}, signal ${signal}): ${stderr.slice(0, 500)}`)));
  });
  return { proc, exited, ready: withTimeout(ready, "listening line") };
}

// A client speaking the bench protocol; frames are plain objects both ways.
// For Socket.IO: Engine.IO v4 packets over the WebSocket, event "m" both ways.
class Client {
  constructor(port, user, sio) {
    this.sio = sio;
    this.frames = []; // every frame received, in order
    this.waiters = [];
    const url = sio
      ? `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket&user=${user}`
      : `ws://127.0.0.1:${port}/v1/ws?user=${user}`;
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on("error", () => {});
    this.ready = withTimeout(new Promise((res, rej) => {
      this.ws.on("error", rej);
      this.ws.on("close", () => rej(new Error("closed before ready")));
      if (!sio) this.ws.on("open", res);
      this.ws.on("message", (data, isBinary) => {
        const s = data.toString();
        if (isBinary) return this.push({ bad: "binary message" });
        if (!sio) {
          for (const line of s.split("\n")) if (line) this.push(JSON.parse(line));
          return;
        }
        // Engine.IO packet type is the first character; Socket.IO packet type the second.
        if (s[0] === "0") this.ws.send("40"); // open -> connect to namespace "/"
        else if (s[0] === "2") this.ws.send("3"); // ping -> pong
        else if (s.startsWith("40")) res(); // namespace connect ack: 40{"sid":"..."}
        else if (s.startsWith("42")) {
          const [name, frame] = JSON.parse(s.slice(2));
          this.push(name === "m" ? frame : { bad: `event ${name}` });
        } else this.push({ bad: `packet ${s.slice(0, 40)}` });
      });
    }), "client connect");
  }
  push(frame) {
    this.frames.push(frame);
    for (const w of this.waiters.splice(0)) w();
  }
  send(obj) {
    const s = JSON.stringify(obj);
    this.ws.send(this.sio ? `42${JSON.stringify(["m", obj])}` : s);
  }
  // Waits until pred(frames) is true.
  until(pred, what) {
    return withTimeout(new Promise((res) => {
      const check = () => (pred(this.frames) ? res() : this.waiters.push(check));
      check();
    }), what);
  }
  reply(id) {
    return this.until((fs) => fs.some((f) => f.id === id), `reply to ${id}`)
      .then(() => this.frames.find((f) => f.id === id));
  }
  close() {
    this.ws.terminate();
  }
}

const events = (c) => c.frames.filter((f) => f.ev !== undefined).map((f) => f.ev);

async function checkHealth(port) {
  const r = await withTimeout(fetch(`http://127.0.0.1:${port}/healthz`), "GET /healthz");
  if (r.status !== 200) throw new Error(`GET /healthz: HTTP ${r.status}`);
  await r.text();
}

async function checkBroadcast(port, sio) {
  const clients = [];
  try {
    for (let u = 1; u <= N_CLIENTS; u++) clients.push(new Client(port, u, sio));
    await Promise.all(clients.map((c) => c.ready));
    const joins = await Promise.all(clients.map((c) => {
      c.send({ id: 1, op: "join", conv: CONV });
      return c.reply(1);
    }));
    for (const j of joins) {
      if (!j.result) throw new Error(`join failed: ${JSON.stringify(j)}`);
    }
    const sender = clients[0];
    for (let i = 1; i <= N_MSGS; i++) {
      sender.send({ id: 100 + i, op: "send", conv: CONV, client_msg_id: `smoke-${i}`,
        text: `hello "${i}" \\ \u00e9` });
    }
    await Promise.all(clients.map((c, k) =>
      c.until((fs) => fs.filter((f) => f.ev).length >= N_MSGS, `client ${k + 1}: ${N_MSGS} events`)));
    await sender.until((fs) => fs.filter((f) => f.id > 100).length >= N_MSGS, "5 acks");
    await new Promise((r) => setTimeout(r, 50)); // let any stray extra frame arrive
    for (const [k, c] of clients.entries()) {
      const evs = events(c);
      if (evs.length !== N_MSGS) throw new Error(`client ${k + 1}: ${evs.length} events`);
      evs.forEach((ev, i) => {
        const s = i + 1;
        const ok = ev.conv === CONV && ev.seq === s && ev.id === `${CONV}-${s}` &&
          ev.type === "message.created" && ev.sender === 1 &&
          ev.client_msg_id === `smoke-${s}` && ev.data?.text === `hello "${s}" \\ \u00e9` &&
          Number.isSafeInteger(ev.ts) && ev.ts > 0;
        if (!ok) throw new Error(`client ${k + 1}, event ${i}: ${JSON.stringify(ev)}`);
      });
      const other = c.frames.filter((f) => f.ev === undefined && !(f.id === 1 || f.id > 100));
      if (other.length) throw new Error(`client ${k + 1}: unexpected ${JSON.stringify(other[0])}`);
    }
    for (let i = 1; i <= N_MSGS; i++) {
      const a = sender.frames.find((f) => f.id === 100 + i);
      const r = a?.result;
      const ev = events(sender)[i - 1];
      if (!r || r.conv !== CONV || r.seq !== i || r.id !== `${CONV}-${i}` ||
          r.client_msg_id === undefined || r.client_msg_id !== `smoke-${i}` ||
          r.duplicate !== false || r.ts !== ev.ts) {
        throw new Error(`bad ack ${i}: ${JSON.stringify(a)}`);
      }
    }
    for (const c of clients.slice(1)) {
      if (c.frames.some((f) => f.id > 100)) throw new Error("a non-sender got an ack");
    }
  } finally {
    for (const c of clients) c.close();
  }
}

async function checkPingAndErrors(port, sio) {
  const c = new Client(port, 9, sio);
  try {
    await c.ready;
    c.send({ id: 1, op: "ping" });
    const p = await c.reply(1);
    if (!Number.isSafeInteger(p.result?.ts)) throw new Error(`ping: ${JSON.stringify(p)}`);
    c.send({ id: "x", op: "frobnicate" });
    const e = await c.reply("x");
    if (e.error?.code !== "invalid") throw new Error(`unknown op: ${JSON.stringify(e)}`);
    c.send({ id: 2, op: "send", conv: 77, client_msg_id: "k", text: "not joined" });
    const n = await c.reply(2);
    if (!n.error) throw new Error(`send to a room not joined: ${JSON.stringify(n)}`);
  } finally {
    c.close();
  }
}

const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!PEERS[w]) {
    console.log(`unknown peer ${w} (known: ${Object.keys(PEERS).join(", ")})`);
    process.exit(2);
  }
}
const t0 = Date.now();
const procs = new Set();
process.on("exit", () => { for (const pr of procs) pr.kill("SIGKILL"); });
setTimeout(() => { // hard cap: never hang make test
  for (const pr of procs) pr.kill("SIGKILL");
  result("whole run", new Error(`exceeded ${TOTAL_MS / 1000} s`));
  finish();
}, TOTAL_MS).unref();
for (const name of wanted.length ? wanted : Object.keys(PEERS)) {
  const peer = PEERS[name];
  let p;
  let port;
  try {
    p = startPeer(peer);
    procs.add(p.proc);
    p.exited.then(() => procs.delete(p.proc));
    port = await p.ready;
  } catch (e) {
    result(`${name}: start`, e);
    p?.proc.kill("SIGKILL");
    continue;
  }
  for (const [what, fn] of [
    ["GET /healthz", () => checkHealth(port)],
    [`${N_CLIENTS} clients, ${N_MSGS} sends: broadcasts seq 1..${N_MSGS} + acks`,
      () => checkBroadcast(port, peer.sio)],
    ["ping, unknown op, send without join", () => checkPingAndErrors(port, peer.sio)],
  ]) {
    try {
      await fn();
      result(`${name}: ${what}`);
    } catch (e) {
      result(`${name}: ${what}`, e);
    }
  }
  try {
    p.proc.kill("SIGTERM");
    const { code, signal } = await withTimeout(p.exited, "exit after SIGTERM");
    if (code !== 0) throw new Error(`exit code ${code}, signal ${signal}`);
    result(`${name}: SIGTERM -> exit 0`);
  } catch (e) {
    result(`${name}: SIGTERM -> exit 0`, e);
    p.proc.kill("SIGKILL");
  }
}
console.log(`(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
finish();
