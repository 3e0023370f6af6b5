// The Beast part of parley-bench: HTTP requests (the WebSocket client is ws_client.cpp).
#include "net.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace bench {

namespace beast = boost::beast;
namespace http = beast::http;
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

}  // namespace bench
