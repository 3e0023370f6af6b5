// parley-bench's WebSocket client (RFC 6455), written for throughput rather than generality:
// the load generator must not be the bottleneck, and a peer like Bun sends every event as
// its own WebSocket message. It reads raw bytes into one growing buffer and parses every
// frame in it in place (server frames are unmasked), so many messages cost one read; it
// writes whatever is queued in one write. Client frames carry the mask bit with a zero
// masking key (any key is valid to a server; a zero key leaves the payload as it is, so
// nothing is copied to mask it). Pings are answered; fragmented messages are reassembled.
// On request it offers permessage-deflate and inflates compressed messages (each on its own:
// the server never uses context takeover); it always sends uncompressed.
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>
#include <boost/system/system_error.hpp>
#include <cctype>
#include <cstring>
#include <random>
#include <vector>

#include "net.hpp"

namespace bench {

using tcp = asio::ip::tcp;
using asio::use_awaitable;

namespace {

constexpr std::size_t kInitialBuffer = 4096;
constexpr std::size_t kMaxMessage = 64u << 20;

// A frame header for a client frame of n bytes: FIN, opcode, mask bit, zero key.
void append_header(std::string& out, unsigned opcode, std::size_t n) {
  out += static_cast<char>(0x80 | opcode);
  if (n < 126) {
    out += static_cast<char>(0x80 | n);
  } else if (n < 65536) {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i)
      out += static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff);
  }
  out.append(4, '\0');  // masking key 0: the payload goes out unchanged
}

std::string random_key() {
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // Seeded once per thread: a std::random_device per connection (its setup and a read of
  // the kernel's randomness per character) was a fifth of the generator's CPU in W5.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string k;
  for (int i = 0; i < 21; ++i) k += b64[rng() % 64];
  return k + "A==";  // 16 bytes, base64
}

[[noreturn]] void fail(const std::string& what) {
  throw boost::system::system_error(asio::error::connection_aborted, what);
}

// Inflates one permessage-deflate message (no context takeover) into out.
void inflate_message(std::string_view in, std::string& out) {
  namespace zlib = boost::beast::zlib;
  thread_local zlib::inflate_stream z;
  z.reset(15);
  static constexpr char tail[4] = {0, 0, '\xff', '\xff'};
  out.clear();
  for (std::string_view part : {in, std::string_view(tail, 4)}) {
    zlib::z_params zs;
    zs.next_in = part.data();
    zs.avail_in = part.size();
    for (;;) {
      std::size_t have = out.size();
      out.resize(have + std::max<std::size_t>(4096, part.size() * 4));
      zs.next_out = out.data() + have;
      zs.avail_out = out.size() - have;
      zs.total_out = 0;
      boost::system::error_code ec;
      z.write(zs, zlib::Flush::sync, ec);
      out.resize(have + zs.total_out);
      if (ec == zlib::error::end_of_stream) return;
      if (ec && ec != zlib::error::need_buffers) fail("bad deflate data: " + ec.message());
      if (out.size() > kMaxMessage) fail("an inflated message over 64 MiB");
      if (zs.avail_in == 0 && zs.avail_out > 0) break;
    }
  }
}

}  // namespace

struct ws_stream::impl : std::enable_shared_from_this<impl> {
  tcp::socket sock;
  std::vector<char> rbuf;
  std::size_t rpos = 0, rend = 0;  // unparsed bytes are [rpos, rend)
  std::size_t consumed = 0;        // bytes of the message returned last, dropped on next read
  std::string frag;                // a fragmented message being reassembled
  bool in_frag = false;
  bool offer_deflate = false, deflate = false;  // permessage-deflate offered, agreed
  bool frag_compressed = false;
  std::string inflated;  // the last compressed message, inflated
  std::string wq, wbuf;  // queued frames; the batch being written
  bool writing = false, dead = false, close_sent = false, closed = false;
  bool reading = false;  // a read() is in progress (close() must not read then)
  std::string werr;
  int close_code = 0;

  explicit impl(asio::any_io_executor ex) : sock(std::move(ex)) {}

  void queue_frame(unsigned opcode, std::string_view payload) {
    if (dead) return;
    append_header(wq, opcode, payload.size());
    wq.append(payload);
    write_next();
  }

  void write_next() {
    if (writing || wq.empty() || dead) return;
    writing = true;
    wbuf.swap(wq);
    wq.clear();
    asio::async_write(sock, asio::buffer(wbuf),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        self->writing = false;
                        self->wbuf.clear();
                        if (ec) {
                          if (self->werr.empty()) self->werr = ec.message();
                          self->dead = true;
                          self->wq.clear();
                          return;
                        }
                        self->write_next();
                      });
  }

  // Makes room for at least `need` more bytes after rend.
  void reserve(std::size_t need) {
    if (rpos > 0 && rpos == rend) rpos = rend = 0;
    if (rbuf.size() - rend >= need) return;
    if (rpos > 0) {
      std::memmove(rbuf.data(), rbuf.data() + rpos, rend - rpos);
      rend -= rpos;
      rpos = 0;
    }
    if (rbuf.size() - rend < need) rbuf.resize(std::max(rbuf.size() * 2, rend + need));
  }

  asio::awaitable<void> fill(std::size_t need) {
    reserve(need);
    auto n = co_await sock.async_read_some(asio::buffer(rbuf.data() + rend, rbuf.size() - rend),
                                           use_awaitable);
    // A read that filled the buffer means a busy connection: give it more room next time.
    bool full = rend + n == rbuf.size();
    rend += n;
    if (full && rbuf.size() < (256u << 10)) reserve(rbuf.size());
  }
};

ws_stream::ws_stream(asio::any_io_executor ex) : impl_(std::make_shared<impl>(std::move(ex))) {}

void ws_stream::offer_deflate() {
  impl_->offer_deflate = true;
}
bool ws_stream::deflate() const {
  return impl_->deflate;
}

ws_stream::~ws_stream() {
  if (impl_) abort();
}

asio::awaitable<void> ws_stream::connect(std::string host, std::uint16_t port, std::string target,
                                         std::string source, std::string headers) {
  auto self = impl_;
  auto& s = self->sock;
  // A numeric address needs no resolver (whose lookups run on a thread of its own).
  boost::system::error_code numeric;
  auto address = asio::ip::make_address(host, numeric);
  tcp::endpoint to;
  if (!numeric) {
    to = tcp::endpoint(address, port);
  } else {
    tcp::resolver resolver(s.get_executor());
    auto eps = co_await resolver.async_resolve(host, std::to_string(port), use_awaitable);
    to = *eps.begin();
  }
  // Connect and handshake within 30 s (a timer closes the socket otherwise).
  auto timer = std::make_shared<asio::steady_timer>(s.get_executor(), std::chrono::seconds(30));
  timer->async_wait([self](boost::system::error_code ec) {
    if (!ec) {
      boost::system::error_code ignored;
      self->sock.close(ignored);
    }
  });
  s.open(to.protocol());
  if (!source.empty()) {
    // Bind first: each source address has its own ephemeral port range.
    s.set_option(asio::socket_base::reuse_address(true));
    s.bind(tcp::endpoint(asio::ip::make_address(source), 0));
  }
  co_await s.async_connect(to, use_awaitable);
  s.set_option(tcp::no_delay(true));
  std::string req =
      "GET " + target + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + random_key() +
      "\r\nSec-WebSocket-Version: 13\r\n" + headers +
      (self->offer_deflate
           ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
           : "") +
      "\r\n";
  co_await asio::async_write(s, asio::buffer(req), use_awaitable);
  self->rbuf.resize(kInitialBuffer);
  std::size_t end_of_headers = std::string_view::npos;
  while (end_of_headers == std::string_view::npos) {
    if (self->rend > 16384) fail("handshake: response headers too long");
    co_await self->fill(1024);
    std::string_view have(self->rbuf.data(), self->rend);
    end_of_headers = have.find("\r\n\r\n");
  }
  std::string_view status(self->rbuf.data(), self->rend);
  status = status.substr(0, status.find("\r\n"));
  if (!status.starts_with("HTTP/1.1 101"))
    fail("handshake: " + std::string(status) + " for " + target);
  timer->cancel();
  std::string reply_headers(self->rbuf.data(), end_of_headers);
  for (auto& ch : reply_headers)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  self->deflate =
      reply_headers.find("\r\nsec-websocket-extensions: permessage-deflate") != std::string::npos;
  self->rpos = end_of_headers + 4;  // frames the server sent at once stay in the buffer
}

asio::awaitable<std::string_view> ws_stream::read() {
  auto self = impl_;
  auto& r = *self;
  r.rpos += r.consumed;
  r.consumed = 0;
  struct reading_flag {
    impl& r;
    explicit reading_flag(impl& x) : r(x) { r.reading = true; }
    ~reading_flag() { r.reading = false; }
  } flag(r);
  for (;;) {
    // A complete frame in [rpos, rend)?
    std::size_t avail = r.rend - r.rpos;
    if (avail >= 2) {
      auto* p = reinterpret_cast<const unsigned char*>(r.rbuf.data() + r.rpos);
      bool fin = p[0] & 0x80;
      unsigned opcode = p[0] & 0x0f;
      bool masked = p[1] & 0x80;
      std::uint64_t len = p[1] & 0x7f;
      std::size_t hdr = 2;
      if (len == 126) {
        hdr = 4;
        if (avail >= hdr) len = (std::uint64_t{p[2]} << 8) | p[3];
      } else if (len == 127) {
        hdr = 10;
        if (avail >= hdr) {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
        }
      }
      if (masked) fail("a masked frame from the server");
      if (len > kMaxMessage) fail("a frame over 64 MiB");
      if (avail >= hdr && avail >= hdr + len) {
        std::string_view payload(r.rbuf.data() + r.rpos + hdr, static_cast<std::size_t>(len));
        std::size_t frame = hdr + static_cast<std::size_t>(len);
        if (opcode == 0x9) {  // ping
          r.queue_frame(0xA, payload);
          r.rpos += frame;
          continue;
        }
        if (opcode == 0xA) {  // pong
          r.rpos += frame;
          continue;
        }
        if (opcode == 0x8) {  // close
          r.close_code = payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                                   static_cast<unsigned char>(payload[1])
                                             : 1005;
          r.rpos += frame;
          if (!r.close_sent) {  // echo the code, completing the closing handshake
            r.close_sent = true;
            r.queue_frame(0x8, payload.substr(0, std::min<std::size_t>(2, payload.size())));
          }
          r.closed = true;
          throw boost::system::system_error(asio::error::eof, "WebSocket closed by the server");
        }
        const bool rsv1 = (p[0] & 0x40) != 0;
        if (rsv1 && (!r.deflate || opcode == 0x0)) fail("RSV1 where it was not agreed");
        if (opcode == 0x0 || !fin || r.in_frag) {  // fragmented message
          if (opcode != 0x0) {
            r.frag.clear();
            r.frag_compressed = rsv1;
          }
          r.frag.append(payload);
          r.in_frag = !fin;
          r.rpos += frame;
          if (!fin) continue;
          if (!r.frag_compressed) co_return std::string_view(r.frag);
          inflate_message(r.frag, r.inflated);
          co_return std::string_view(r.inflated);
        }
        r.consumed = frame;
        if (!rsv1) co_return std::string_view(payload);  // valid until the next read()
        inflate_message(payload, r.inflated);
        co_return std::string_view(r.inflated);
      }
      if (avail >= hdr) {
        co_await r.fill(hdr + static_cast<std::size_t>(len) - avail);
        continue;
      }
    }
    co_await r.fill(2);
  }
}

void ws_stream::send(std::string msg) {
  impl_->queue_frame(0x1, msg);
}

std::size_t ws_stream::queued_bytes() const {
  return impl_->wq.size() + impl_->wbuf.size();
}

std::string ws_stream::write_error() const {
  return impl_->werr;
}

int ws_stream::close_code() const {
  return impl_->close_code;
}

asio::awaitable<void> ws_stream::close(int timeout_ms) {
  auto self = impl_;
  if (self->dead || !self->sock.is_open()) co_return;
  if (!self->close_sent) {
    self->close_sent = true;
    self->queue_frame(0x8, std::string("\x03\xe8", 2));  // 1000
  }
  // Wait for the server's close (or the connection's end), at most timeout_ms.
  auto timer = std::make_shared<asio::steady_timer>(self->sock.get_executor(),
                                                    std::chrono::milliseconds(timeout_ms));
  timer->async_wait([self](boost::system::error_code ec) {
    if (!ec) {
      boost::system::error_code ignored;
      self->sock.close(ignored);
    }
  });
  if (self->reading) {
    // Another coroutine is reading: it sees the server's close; wait for that.
    asio::steady_timer poll(self->sock.get_executor());
    while (!self->closed && self->sock.is_open()) {
      poll.expires_after(std::chrono::milliseconds(5));
      co_await poll.async_wait(use_awaitable);
    }
  } else {
    try {
      for (;;) co_await read();
    } catch (const std::exception&) {
    }
  }
  timer->cancel();
  self->dead = true;
}

void ws_stream::abort() {
  boost::system::error_code ec;
  auto& sock = impl_->sock;
  if (!sock.is_open()) return;
  sock.shutdown(tcp::socket::shutdown_both, ec);
  sock.close(ec);
  impl_->dead = true;
}

}  // namespace bench
