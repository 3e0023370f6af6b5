// Bun peer for Parley's benchmark: Bun.serve WebSockets (uWebSockets' C++ core) with
// uWS pub/sub: one topic per room, server.publish() encodes nothing per member.
// Usage: node_modules/.bin/bun bun/server.js [PORT]   (or PORT=... in the environment;
// 0 picks a free port). Prints "listening on 127.0.0.1:<port>" when ready.
// Protocol: bench/peers/README.md.

const MAX_TEXT = 16384;
const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const seqs = new Map(); // conv -> last seq (in memory only)

function reply(ws, id, result) {
  ws.send(JSON.stringify({ id, result }));
}
function fail(ws, id, code, message) {
  ws.send(JSON.stringify({ id, error: { code, message } }));
}
const isConv = (c) => Number.isSafeInteger(c) && c > 0;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname === "/healthz") {
      return new Response('{"status":"ok"}', {
        headers: { "content-type": "application/json" },
      });
    }
    if (url.pathname === "/v1/ws") {
      const user = Number(url.searchParams.get("user"));
      if (!Number.isSafeInteger(user) || user <= 0) {
        return new Response("user=<integer> required\n", { status: 400 });
      }
      if (srv.upgrade(req, { data: { user } })) return undefined;
      return new Response("websocket upgrade required\n", { status: 426 });
    }
    return new Response("not found\n", { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 1 << 20, // like Parley: larger messages close with 1009
    backpressureLimit: 4 << 20, // like Parley's outbound_queue_bytes ...
    closeOnBackpressureLimit: true, // ... a slow consumer is closed
    idleTimeout: 30, // like Parley's heartbeat: ping when idle, close when silent
    sendPings: true,
    publishToSelf: true,
    message(ws, raw) {
      let req;
      try {
        req = JSON.parse(raw);
      } catch {
        return fail(ws, null, "invalid", "bad JSON");
      }
      if (req === null || typeof req !== "object") {
        return fail(ws, null, "invalid", "not an object");
      }
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
          const topic = "c" + conv;
          if (!ws.isSubscribed(topic)) return fail(ws, id, "not_found", "not a member");
          const seq = (seqs.get(conv) ?? 0) + 1;
          seqs.set(conv, seq);
          const eid = conv + "-" + seq;
          const ts = Date.now();
          // Encoded once; uWS writes the same bytes to every subscriber.
          server.publish(
            topic,
            JSON.stringify({
              ev: {
                conv, seq, id: eid, ts, type: "message.created", sender: ws.data.user,
                client_msg_id: cmid, data: { text },
              },
            }),
          );
          return reply(ws, id, { conv, seq, id: eid, ts, client_msg_id: cmid, duplicate: false });
        }
        case "join": {
          if (!isConv(req.conv)) return fail(ws, id, "invalid", "conv");
          ws.subscribe("c" + req.conv);
          return reply(ws, id, {});
        }
        case "ping":
          return reply(ws, id, { ts: Date.now() });
        default:
          return fail(ws, id, "invalid", "unknown op");
      }
    },
  },
});

console.log(`listening on 127.0.0.1:${server.port}`);

function shutdown() {
  server.stop(true);
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
