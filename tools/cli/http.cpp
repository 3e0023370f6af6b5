#include "http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <optional>

namespace parley::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

struct reply {
  int status = 0;
  std::string body;
};

asio::awaitable<void> exchange(endpoint server, http::request<http::string_body> req,
                               std::chrono::steady_clock::time_point deadline,
                               std::optional<reply>& out, std::string& err) {
  auto ex = co_await asio::this_coro::executor;
  beast::error_code ec;
  auto tok = asio::redirect_error(asio::use_awaitable, ec);
  tcp::resolver resolver(ex);
  auto eps = co_await resolver.async_resolve(server.host, std::to_string(server.port), tok);
  if (ec) {
    err = "cannot resolve " + server.host + ": " + ec.message();
    co_return;
  }
  beast::tcp_stream s(ex);
  s.expires_at(deadline);
  co_await s.async_connect(eps, tok);
  if (ec) {
    err = "cannot connect to " + server.str() + ": " + ec.message();
    co_return;
  }
  co_await http::async_write(s, req, tok);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(16 * 1024 * 1024);
  if (!ec) co_await http::async_read(s, buf, p, tok);
  if (ec) {
    err = ec == beast::error::timeout ? "no reply from " + server.str() + " in time"
                                      : "talking to " + server.str() + ": " + ec.message();
    co_return;
  }
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  out = reply{static_cast<int>(p.get().result_int()), p.get().body()};
}

}  // namespace

result<json::object> http_json(const endpoint& server, const std::string& method,
                               const std::string& target, const json::object& body,
                               const std::string& token, std::chrono::milliseconds timeout) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, server.str());
  req.set(http::field::user_agent, "parley-cli");
  req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.body() = json::serialize(body);
  req.keep_alive(false);
  req.prepare_payload();

  asio::io_context io;
  std::optional<reply> out;
  std::string err;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::co_spawn(io, exchange(server, std::move(req), deadline, out, err), asio::detached);
  io.run_for(timeout + std::chrono::seconds(1));  // also bounds name resolution
  if (!out) {
    if (err.empty()) err = "no reply from " + server.str() + " in time";
    throw failure("unreachable", err, exit_unreachable);
  }

  boost::system::error_code ec;
  auto v = json::parse(out->body, ec);
  if (out->status == 200) {
    if (ec || !v.is_object())
      return make_error(errc::internal, "the server sent a reply that is not a JSON object");
    return std::move(v.as_object());
  }
  // {"error":{"code","message","field"?,"retry_after_ms"?}}
  error e = make_error(errc_from_http_status(out->status), "HTTP " + std::to_string(out->status));
  if (!ec && v.is_object())
    if (auto* eo = v.as_object().if_contains("error"); eo && eo->is_object()) {
      const auto& o = eo->as_object();
      if (auto* c = o.if_contains("code"); c && c->is_string())
        e.code = errc_from_name(c->as_string());
      if (auto* m = o.if_contains("message"); m && m->is_string()) e.message = m->as_string();
      if (auto* f = o.if_contains("field"); f && f->is_string()) e.field = f->as_string();
    }
  return e;
}

}  // namespace parley::cli
