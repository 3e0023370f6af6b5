// A small HTTP proxy in front of a parley server for the fallback tests: it forwards plain
// requests (streaming, so SSE passes through) and WebSocket upgrades, and answers 403 for
// path prefixes it is told to refuse, as a corporate proxy that does not allow upgrades or
// event streams would.
//
//   const p = await startProxy(t, () => srv.port);   p.baseUrl
//   p.refuse('/v1/ws');  p.refuse('/v1/sse');  p.allowAll();  p.refusals
import http from 'node:http';
import net from 'node:net';

export async function startProxy(t, backendPort) {
  const refused = new Set();
  const sockets = new Set();
  const state = { refusals: 0 };
  const isRefused = (url) => [...refused].some((p) => url.startsWith(p));

  const server = http.createServer((req, res) => {
    if (isRefused(req.url)) {
      state.refusals++;
      res.writeHead(403, { 'content-length': '0', connection: 'close' });
      return res.end();
    }
    const up = http.request(
      { host: '127.0.0.1', port: backendPort(), method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (req, socket, head) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (isRefused(req.url)) {
      state.refusals++;
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const up = net.connect(backendPort(), '127.0.0.1', () => {
      let headText = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) headText += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(headText + '\r\n');
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const close = () =>
    new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  t.after(close);
  return {
    baseUrl: `http://127.0.0.1:${server.address().port}`,
    refuse: (prefix) => refused.add(prefix),
    allowAll: () => refused.clear(),
    get refusals() {
      return state.refusals;
    },
    close,
  };
}
