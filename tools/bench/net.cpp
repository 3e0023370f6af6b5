// The Beast part of parley-bench: HTTP requests and the WebSocket client stream.
#include "net.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

namespace bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::use_awaitable;

namespace {

asio::awaitable<void> tcp_connect(beast::tcp_stream& s, const std::string& host, std::uint16_t port,
                                  const std::string& source = {}) {
  tcp::resolver resolver(s.get_executor());
  auto eps = co_await resolver.async_resolve(host, std::to_string(port), use_awaitable);
  s.expires_after(std::chrono::seconds(30));
  if (source.empty()) {
    co_await s.async_connect(eps, use_awaitable);
  } else {
    // Bind first: each source address has its own ephemeral port range.
    tcp::endpoint to = *eps.begin();
    auto& sock = s.socket();
    sock.open(to.protocol());
    sock.set_option(asio::socket_base::reuse_address(true));
    sock.bind(tcp::endpoint(asio::ip::make_address(source), 0));
    co_await s.async_connect(to, use_awaitable);
  }
  s.expires_never();
  s.socket().set_option(tcp::no_delay(true));
}

}  // namespace

asio::awaitable<http_result> http_request(std::string host, std::uint16_t port, std::string method,
                                          std::string target, std::string body, std::string token) {
  beast::tcp_stream s(co_await asio::this_coro::executor);
  co_await tcp_connect(s, host, port);
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.keep_alive(false);
  req.prepare_payload();
  s.expires_after(std::chrono::seconds(60));
  co_await http::async_write(s, req, use_awaitable);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(64 * 1024 * 1024);
  co_await http::async_read(s, buf, p, use_awaitable);
  beast::error_code ec;
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  co_return http_result{static_cast<int>(p.get().result_int()), p.get().body()};
}

struct ws_stream::impl : std::enable_shared_from_this<impl> {
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer rbuf;
  std::deque<std::string> wq;
  std::size_t wq_bytes = 0;
  bool writing = false;
  bool dead = false;
  std::string werr;

  explicit impl(asio::any_io_executor ex) : ws(ex) {}

  void write_next() {
    if (writing || wq.empty() || dead) return;
    writing = true;
    ws.text(true);
    ws.async_write(asio::buffer(wq.front()),
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     self->writing = false;
                     self->wq_bytes -= self->wq.front().size();
                     self->wq.pop_front();
                     if (ec) {
                       if (self->werr.empty()) self->werr = ec.message();
                       self->dead = true;
                       self->wq.clear();
                       self->wq_bytes = 0;
                       return;
                     }
                     self->write_next();
                   });
  }
};

ws_stream::ws_stream(asio::any_io_executor ex) : impl_(std::make_shared<impl>(std::move(ex))) {}

ws_stream::~ws_stream() {
  if (impl_) abort();
}

asio::awaitable<void> ws_stream::connect(std::string host, std::uint16_t port, std::string target,
                                         std::string source) {
  auto& s = beast::get_lowest_layer(impl_->ws);
  co_await tcp_connect(s, host, port, source);
  impl_->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  impl_->ws.read_message_max(64 * 1024 * 1024);
  impl_->ws.auto_fragment(false);
  co_await impl_->ws.async_handshake(host + ":" + std::to_string(port), target, use_awaitable);
}

asio::awaitable<std::string_view> ws_stream::read() {
  auto& b = impl_->rbuf;
  b.consume(b.size());
  co_await impl_->ws.async_read(b, use_awaitable);
  auto d = b.cdata();
  co_return std::string_view(static_cast<const char*>(d.data()), d.size());
}

void ws_stream::send(std::string msg) {
  if (impl_->dead) return;
  impl_->wq_bytes += msg.size();
  impl_->wq.push_back(std::move(msg));
  impl_->write_next();
}

std::size_t ws_stream::queued_bytes() const {
  return impl_->wq_bytes;
}
std::string ws_stream::write_error() const {
  return impl_->werr;
}
int ws_stream::close_code() const {
  return impl_->ws.reason().code;
}

asio::awaitable<void> ws_stream::close(int timeout_ms) {
  auto self = impl_;
  if (self->dead || !self->ws.is_open()) co_return;
  // Bounded by a timer on the TCP layer; a pending read completes with `closed`.
  beast::get_lowest_layer(self->ws).expires_after(std::chrono::milliseconds(timeout_ms));
  beast::error_code ec;
  co_await self->ws.async_close(websocket::close_code::normal,
                                asio::redirect_error(use_awaitable, ec));
  self->dead = true;
}

void ws_stream::abort() {
  beast::error_code ec;
  auto& sock = beast::get_lowest_layer(impl_->ws).socket();
  if (!sock.is_open()) return;
  sock.shutdown(tcp::socket::shutdown_both, ec);
  sock.close(ec);
  impl_->dead = true;
}

}  // namespace bench
