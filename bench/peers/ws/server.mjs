// Node.js `ws` peer for Parley's benchmark: a plain http server + ws (noServer), rooms are
// Sets of sockets; each broadcast is encoded once into a Buffer and written to every member.
// Usage: node ws/server.mjs [PORT]   (or PORT=... in the environment; 0 picks a free port).
// Prints "listening on 127.0.0.1:<port>" when ready. Protocol: bench/peers/README.md.

import http from "node:http";
import { WebSocketServer } from "ws";

const MAX_TEXT = 16384;
const MAX_QUEUED = 4 << 20; // like Parley's outbound_queue_bytes: close slow consumers
const port = Number(process.argv[2] ?? process.env.PORT ?? 0);

const rooms = new Map(); // conv -> Set<WebSocket>
const seqs = new Map(); // conv -> last seq (in memory only)
const TEXT = { binary: false }; // send Buffers as text frames

const isConv = (c) => Number.isSafeInteger(c) && c > 0;
function reply(ws, id, result) {
  ws.send(JSON.stringify({ id, result }));
}
function fail(ws, id, code, message) {
  ws.send(JSON.stringify({ id, error: { code, message } }));
}

function onMessage(raw, isBinary) {
  const ws = this;
  let req;
  try {
    req = JSON.parse(raw);
  } catch {
    return fail(ws, null, "invalid", "bad JSON");
  }
  if (req === null || typeof req !== "object") return fail(ws, null, "invalid", "not an object");
  const id = req.id ?? null;
  switch (req.op) {
    case "send": {
      const conv = req.conv;
      const text = req.text;
      const cmid = req.client_msg_id;
      if (!isConv(conv)) return fail(ws, id, "invalid", "conv");
      if (typeof cmid !== "string" || cmid.length === 0 || cmid.length > 64) {
        return fail(ws, id, "invalid", "client_msg_id");
      }
      if (typeof text !== "string" || text.length === 0 || text.length > MAX_TEXT) {
        return fail(ws, id, "invalid", "text");
      }
      const room = rooms.get(conv);
      if (room === undefined || !room.has(ws)) return fail(ws, id, "not_found", "not a member");
      const seq = (seqs.get(conv) ?? 0) + 1;
      seqs.set(conv, seq);
      const eid = conv + "-" + seq;
      const ts = Date.now();
      const frame = Buffer.from(
        JSON.stringify({
          ev: {
            conv, seq, id: eid, ts, type: "message.created", sender: ws.user,
            client_msg_id: cmid, data: { text },
          },
        }),
      );
      for (const c of room) {
        if (c.readyState !== 1) continue;
        if (c.bufferedAmount > MAX_QUEUED) {
          c.close(4002, "slow consumer");
          continue;
        }
        c.send(frame, TEXT);
      }
      return reply(ws, id, { conv, seq, id: eid, ts, client_msg_id: cmid, duplicate: false });
    }
    case "join": {
      const conv = req.conv;
      if (!isConv(conv)) return fail(ws, id, "invalid", "conv");
      let room = rooms.get(conv);
      if (room === undefined) rooms.set(conv, (room = new Set()));
      room.add(ws);
      if (ws.rooms === null) ws.rooms = [conv];
      else if (!ws.rooms.includes(conv)) ws.rooms.push(conv);
      return reply(ws, id, {});
    }
    case "ping":
      return reply(ws, id, { ts: Date.now() });
    default:
      return fail(ws, id, "invalid", "unknown op");
  }
}

function onClose() {
  const ws = this;
  if (ws.rooms === null) return;
  for (const conv of ws.rooms) {
    const room = rooms.get(conv);
    if (room === undefined) continue;
    room.delete(ws);
    if (room.size === 0) rooms.delete(conv);
  }
  ws.rooms = null;
}

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  clientTracking: false, // rooms are the only registry
  maxPayload: 1 << 20, // like Parley: larger messages close with 1009
});

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found\n");
});

server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://x");
  const user = Number(url.searchParams.get("user"));
  if (url.pathname !== "/v1/ws" || !Number.isSafeInteger(user) || user <= 0) {
    socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.user = user;
    ws.rooms = null; // convs joined, for cleanup on close
    ws.on("message", onMessage);
    ws.on("close", onClose);
    ws.on("error", () => {});
  });
});

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`);
});

function shutdown() {
  server.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
