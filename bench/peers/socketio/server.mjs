// Socket.IO peer for Parley's benchmark: Engine.IO v4 over WebSocket only (no polling, no
// compression), in-memory adapter; rooms are Socket.IO rooms and a broadcast is
// io.to(room).emit(), which encodes the packet once for all members.
// Usage: node socketio/server.mjs [PORT]   (or PORT=... in the environment; 0 picks a free
// port). Prints "listening on 127.0.0.1:<port>" when ready.
// Wire format (event "m" both ways): bench/peers/README.md.

import http from "node:http";
import { Server } from "socket.io";

const MAX_TEXT = 16384;
const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const seqs = new Map(); // conv -> last seq (in memory only)

const isConv = (c) => Number.isSafeInteger(c) && c > 0;
const userOf = (req) => {
  const u = Number(new URL(req.url, "http://x").searchParams.get("user"));
  return Number.isSafeInteger(u) && u > 0 ? u : 0;
};

const server = http.createServer((req, res) => {
  // Socket.IO answers /socket.io/ itself; everything else lands here.
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found\n");
});

const io = new Server(server, {
  transports: ["websocket"], // no HTTP long-polling
  allowUpgrades: false,
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  maxHttpBufferSize: 1 << 20, // like Parley's 1 MiB hard limit
  pingInterval: 15000, // like Parley's heartbeat (ping after 15 s, close after 30 s)
  pingTimeout: 15000,
  connectTimeout: 10000, // like Parley's auth timeout: send "40" within 10 s
  allowRequest: (req, cb) => cb(null, userOf(req) !== 0),
});

io.on("connection", (socket) => {
  const user = userOf(socket.request);
  const reply = (id, result) => socket.emit("m", { id, result });
  const fail = (id, code, message) => socket.emit("m", { id, error: { code, message } });

  socket.on("m", (req) => {
    if (req === null || typeof req !== "object") return fail(null, "invalid", "not an object");
    const id = req.id ?? null;
    switch (req.op) {
      case "send": {
        const conv = req.conv;
        const text = req.text;
        const cmid = req.client_msg_id;
        if (!isConv(conv)) return fail(id, "invalid", "conv");
        if (typeof cmid !== "string" || cmid.length === 0 || cmid.length > 64) {
          return fail(id, "invalid", "client_msg_id");
        }
        if (typeof text !== "string" || text.length === 0 || text.length > MAX_TEXT) {
          return fail(id, "invalid", "text");
        }
        const room = "c" + conv;
        if (!socket.rooms.has(room)) return fail(id, "not_found", "not a member");
        const seq = (seqs.get(conv) ?? 0) + 1;
        seqs.set(conv, seq);
        const eid = conv + "-" + seq;
        const ts = Date.now();
        io.to(room).emit("m", {
          ev: {
            conv, seq, id: eid, ts, type: "message.created", sender: user,
            client_msg_id: cmid, data: { text },
          },
        });
        return reply(id, { conv, seq, id: eid, ts, client_msg_id: cmid, duplicate: false });
      }
      case "join": {
        if (!isConv(req.conv)) return fail(id, "invalid", "conv");
        socket.join("c" + req.conv);
        return reply(id, {});
      }
      case "ping":
        return reply(id, { ts: Date.now() });
      default:
        return fail(id, "invalid", "unknown op");
    }
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
