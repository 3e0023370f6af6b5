// Internal to the HTTP transport (http_listener.cpp, http_files.cpp, http_live.cpp): the
// stream type and the reply helpers they use. Beast types; include only from src/transport.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "server/context.hpp"
#include "server/metrics.hpp"
#include "transport/client_address.hpp"
#include "transport/conn_stream.hpp"

namespace parley::http_common {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
// Plain TCP or TLS, chosen when the connection is accepted (transport/conn_stream.hpp).
using http_stream = conn_stream;
using asio::use_awaitable;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

using response = http::response<http::string_body>;

// CORS: a request that got this far came from an allowed origin (or from no browser; see
// origin.hpp), and credentials are bearer tokens, never cookies, so any origin may read the
// response.
template <class Response>
void allow_cross_origin(Response& res) {
  res.set(http::field::access_control_allow_origin, "*");
  res.set(http::field::access_control_expose_headers,
          "Retry-After, Content-Disposition, Content-Range, ETag");
}

inline response json_response(unsigned version, bool keep_alive, int status, std::string body) {
  response res{static_cast<http::status>(status), version};
  res.set(http::field::server, "parley");
  allow_cross_origin(res);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

inline response error_response(unsigned version, bool keep_alive, const error& e) {
  boost::json::object o{{"code", errc_name(e.code)}, {"message", e.message}};
  if (!e.field.empty()) o["field"] = e.field;
  auto res = json_response(version, keep_alive, errc_http_status(e.code),
                           boost::json::serialize(boost::json::object{{"error", o}}));
  if (e.code == errc::rate_limited) {
    o["retry_after_ms"] = e.retry_after_ms;
    res.set(http::field::retry_after, std::to_string((e.retry_after_ms + 999) / 1000));
    res.body() = boost::json::serialize(boost::json::object{{"error", o}});
    res.prepare_payload();
  }
  return res;
}

// Turns a callback-style call into an awaitable one. `start` receives the completion.
template <class T, class Start>
auto await_callback(Start& start) {
  return asio::async_initiate<decltype(use_awaitable), void(T)>(
      [&start](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        start([h](T v) mutable {
          auto ex = asio::get_associated_executor(*h);
          asio::post(ex, [h, v = std::move(v)]() mutable { std::move (*h)(std::move(v)); });
        });
      },
      use_awaitable);
}

template <class Request>
std::optional<std::string> bearer_token(const Request& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return std::nullopt;
  std::string_view v(it->value().data(), it->value().size());
  if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer "))
    return std::string(v.substr(7));
  return std::string();
}

// 405 with the error body every transport uses.
inline response method_not_allowed(unsigned version, bool keep_alive) {
  auto res = error_response(version, keep_alive,
                            make_error(errc::invalid, "method not allowed here", "method"));
  res.result(http::status::method_not_allowed);
  return res;
}

// Writes a response; returns whether the connection may serve another request.
inline asio::awaitable<bool> write_response(http_stream& stream, response res) {
  auto [ec, n] = co_await http::async_write(stream, res, tuple_awaitable);
  co_return !ec && res.keep_alive();
}

inline asio::awaitable<bool> reply_error(http_stream& stream, unsigned version, bool keep_alive,
                                         const error& e) {
  co_return co_await write_response(stream, error_response(version, keep_alive, e));
}

// The client's IP address ("" if the socket no longer knows it).
inline std::string peer_address(http_stream& stream) {
  boost::system::error_code ec;
  auto ep = stream.socket().remote_endpoint(ec);
  return ec ? std::string() : ep.address().to_string();
}

// The client's address for a request: the peer's, or X-Forwarded-For's last entry when
// the peer is one of server.trusted_proxies.
template <class Fields>
std::string request_address(const server_context& ctx, http_stream& stream,
                            const http::header<true, Fields>& req) {
  return client_address(ctx.cfg.trusted_proxies, peer_address(stream), req["X-Forwarded-For"]);
}

// Resolves a bearer token through the service.
inline asio::awaitable<result<device_session>> authenticate(server_context& ctx,
                                                            std::string token) {
  auto start = [&ctx, &token](auto done) { ctx.svc->authenticate(token, std::move(done)); };
  auto op = await_callback<result<device_session>>(start);
  co_return co_await std::move(op);
}

// The device of a request that needs a login: unauthenticated with `missing` as the
// message without an Authorization header; a rejected token is counted in the metrics.
template <class Request>
asio::awaitable<result<device_session>> authenticate_request(server_context& ctx,
                                                             const Request& req,
                                                             std::string missing) {
  auto tok = bearer_token(req);
  if (!tok) co_return make_error(errc::unauthenticated, missing);
  auto who = co_await authenticate(ctx, *tok);
  if (!who) ctx.m->count_error(who.err().code);
  co_return who;
}

}  // namespace parley::http_common
