#include "transport/http_listener.hpp"

#include "transport/client_address.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "server/live_ops.hpp"
#include "server/web_files.hpp"
#include "transport/http_common.hpp"
#include "transport/http_files.hpp"
#include "transport/http_live.hpp"
#include "transport/origin.hpp"
#include "transport/rest_routes.hpp"
#include "transport/tls.hpp"
#include "transport/ws_connection.hpp"

namespace parley {

using namespace http_common;

struct http_listener::impl {
  server_context& ctx;
  std::vector<asio::io_context*> ios;
  std::unique_ptr<tls_context> tls;  // set: every connection speaks TLS
  tcp::acceptor acceptor;
  ws_registry registry;
  std::size_t next = 0;
  asio::thread_pool files_pool{1};  // upload fsyncs, off the I/O threads

  impl(server_context& c, std::vector<asio::io_context*> i, const std::string& host,
       std::uint16_t port)
      : ctx(c), ios(std::move(i)), acceptor(*ios.front()), registry(ios) {
    if (!ctx.cfg.tls_cert_file.empty()) tls = std::make_unique<tls_context>(ctx.cfg);
    beast::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) throw std::runtime_error("server.host is not an IP address: " + host);
    tcp::endpoint ep(addr, port);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                               ec.message());
    acceptor.listen(asio::socket_base::max_listen_connections);
  }

  void accept_next() {
    auto& io = *ios[next++ % ios.size()];
    acceptor.async_accept(io, [this](beast::error_code ec, ws_socket sock) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        sock.set_option(tcp::no_delay(true), ec);
        auto ex = sock.get_executor();
        asio::co_spawn(ex, serve(http_stream(http_stream::next_layer_type(std::move(sock)))),
                       [](std::exception_ptr e) {
                         if (!e) return;
                         try {
                           std::rethrow_exception(e);
                         } catch (const std::exception& x) {
                           spdlog::warn("event=http_session_error what=\"{}\"", x.what());
                         }
                       });
      } else {
        spdlog::warn("event=accept_error what=\"{}\"", ec.message());
      }
      accept_next();
    });
  }

  // A file of the web app (server/web_files.hpp), GET or HEAD, with the app's security
  // headers; errors are the API's JSON errors with the same headers.
  response web_response(const http::request<http::string_body>& req) {
    const unsigned ver = req.version();
    const bool ka = req.keep_alive();
    response res;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res = method_not_allowed(ver, ka);
      res.set(http::field::allow, "GET, HEAD");
    } else if (auto f = web_files::load(ctx.cfg.web_dir,
                                        std::string_view(req.target().data(), req.target().size()));
               !f) {
      res = error_response(ver, ka, f.err());
    } else {
      res = response{http::status::ok, ver};
      res.set(http::field::server, "parley");
      res.set(http::field::content_type, f->content_type);
      res.keep_alive(ka);
      res.body() = std::move(f->body);
      res.prepare_payload();
    }
    // The app's files are rebuilt in place: revalidate every time.
    res.set(http::field::cache_control, "no-cache");
    res.erase(http::field::access_control_allow_origin);
    res.erase(http::field::access_control_expose_headers);
    auto host = req[http::field::host];
    res.set("Content-Security-Policy",
            web_files::content_security_policy(std::string_view(host.data(), host.size())));
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Frame-Options", "DENY");
    res.set("Cross-Origin-Opener-Policy", "same-origin");
    if (req.method() == http::verb::head) {
      // The length of the GET body, without the body.
      auto n = res.body().size();
      res.body().clear();
      res.content_length(n);
    }
    return res;
  }

  asio::awaitable<response> handle(const http::request<http::string_body>& req,
                                   const std::string& address) {
    const unsigned ver = req.version();
    const bool ka = req.keep_alive();
    std::string_view target(req.target().data(), req.target().size());
    std::string_view method(req.method_string().data(), req.method_string().size());
    ctx.m->http_requests_total.fetch_add(1, std::memory_order_relaxed);
    if (target == "/healthz" && req.method() == http::verb::get)
      co_return json_response(ver, ka, 200, "{\"status\":\"ok\"}");
    if (target == "/metrics" && req.method() == http::verb::get) {
      auto res = json_response(ver, ka, 200, ctx.m->render());
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      co_return res;
    }
    route_match m;
    auto st = match_route(method, target, m);
    if (st == route_status::not_found && !ctx.cfg.web_dir.empty() &&
        web_files::is_web_target(target))
      co_return web_response(req);
    if (st == route_status::not_found)
      co_return error_response(ver, ka, make_error(errc::not_found, "no such endpoint", "path"));
    if (st == route_status::method_not_allowed) co_return method_not_allowed(ver, ka);
    if (m.takes_body && !req.body().empty()) {
      boost::json::parse_options po;
      po.max_depth = 32;
      boost::system::error_code ec;
      auto v = boost::json::parse(req.body(), ec, {}, po);
      if (ec || !v.is_object())
        co_return error_response(
            ver, ka, make_error(errc::invalid, "the body is not a JSON object", "body"));
      for (auto& [k, val] : v.get_object())
        if (!m.args.contains(k)) m.args[k] = val;
    }
    caller who;
    who.address = address;
    if (auto tok = bearer_token(req)) {
      // Named locals, not temporaries, in co_await expressions: GCC 12 destroys
      // temporaries captured there twice.
      std::string token = *tok;
      auto r = co_await authenticate(ctx, token);
      if (!r) {
        ctx.m->count_error(r.err().code);
        co_return error_response(ver, ka, r.err());
      }
      who.auth = *r;
    }
    auto start = [this, &who, &m](auto done) {
      if (!call_live_op(ctx, who, m.op, m.args, done))
        ctx.svc->call(who, m.op, m.args, std::move(done));
    };
    auto op = await_callback<result<std::string>>(start);
    auto r = co_await std::move(op);
    if (!r) {
      ctx.m->count_error(r.err().code);
      co_return error_response(ver, ka, r.err());
    }
    co_return json_response(ver, ka, 200, std::move(*r));
  }

  // The server side of the TLS handshake, within the handshake timeout. A handshake in
  // progress holds a place in its address's connection count, so that clients that stall
  // in it cannot hold more than limits.max_connections_per_address connections.
  asio::awaitable<bool> tls_handshake(http_stream& stream, const std::string& address) {
    auto& m = *ctx.m;
    auto ticket = ctx.conns->acquire(address);
    if (!ticket) {
      m.tls_handshake_failures_total.fetch_add(1, std::memory_order_relaxed);
      spdlog::info(
          "event=tls_handshake_refused address={} reason=\"too many connections from "
          "this address\"",
          address);
      co_return false;
    }
    stream.expires_after(std::chrono::milliseconds(ctx.cfg.handshake_timeout_ms));
    auto [ec] = co_await stream.async_handshake(*tls, tuple_awaitable);
    if (ec) {
      m.tls_handshake_failures_total.fetch_add(1, std::memory_order_relaxed);
      auto why = stream.tls_failure();
      spdlog::debug("event=tls_handshake_failed address={} reason=\"{}\"", address,
                    why.empty() ? ec.message() : why);
      co_return false;
    }
    m.tls_handshakes_total.fetch_add(1, std::memory_order_relaxed);
    co_return true;
  }

  asio::awaitable<void> serve(http_stream stream) {
    beast::flat_buffer buf;
    const std::string address = peer_address(stream);
    if (tls) {
      const bool secured = co_await tls_handshake(stream, address);
      if (!secured) co_return;
    }
    for (;;) {
      // The header first: uploads stream their body to disk, everything else is read whole.
      http::request_parser<http::empty_body> hp;
      hp.header_limit(16 * 1024);
      hp.body_limit(boost::none);  // each body's own limit is applied below
      stream.expires_after(std::chrono::milliseconds(ctx.cfg.handshake_timeout_ms));
      auto [hec, hn] = co_await http::async_read_header(stream, buf, hp, tuple_awaitable);
      if (hec) break;
      {
        // A browser page of another origin may not use the server (cross-site WebSocket
        // hijacking, cross-site requests) unless server.allowed_origins says so.
        const auto& h = hp.get();
        auto sv = [](auto v) { return std::string_view(v.data(), v.size()); };
        auto origin = sv(h[http::field::origin]);
        if (!origin_allowed(ctx.cfg.allowed_origins, origin, sv(h[http::field::host]))) {
          spdlog::info("event=origin_refused origin=\"{}\"", origin.substr(0, 200));
          co_await write_response(stream,
                                  error_response(h.version(), false,
                                                 make_error(errc::forbidden,
                                                            "this origin may not use the server "
                                                            "(server.allowed_origins)",
                                                            "origin")));
          break;
        }
        if (h.method() == http::verb::options) {  // a CORS preflight
          if (hp.chunked() || hp.content_length().value_or(0) > 0) break;
          http::response<http::string_body> res{http::status::no_content, h.version()};
          res.set(http::field::server, "parley");
          allow_cross_origin(res);
          res.set(http::field::access_control_allow_methods, "GET, HEAD, POST, PUT, PATCH, DELETE");
          res.set(http::field::access_control_allow_headers,
                  "Authorization, Content-Type, Range, If-None-Match, Last-Event-ID");
          res.set(http::field::access_control_max_age, "600");
          res.keep_alive(h.keep_alive());
          if (!co_await write_response(stream, std::move(res))) break;
          continue;
        }
      }
      {
        std::string_view t(hp.get().target().data(), hp.get().target().size());
        if (http_files::is_files_target(t)) {
          stream.expires_never();
          if (!co_await http_files::serve(ctx, files_pool, stream, buf, hp)) break;
          continue;
        }
        if (http_live::is_live_target(t)) {
          stream.expires_never();
          if (!co_await http_live::serve(ctx, stream, buf, hp)) break;
          continue;
        }
      }
      const auto body_limit = static_cast<std::uint64_t>(ctx.cfg.max_http_body_bytes);
      if (hp.content_length().value_or(0) > body_limit) {
        auto res =
            error_response(11, false, make_error(errc::too_large, "the body is too large", "body"));
        co_await http::async_write(stream, res, tuple_awaitable);
        break;
      }
      http::request_parser<http::string_body> parser{std::move(hp)};
      parser.body_limit(body_limit);
      auto [ec, n] = co_await http::async_read(stream, buf, parser, tuple_awaitable);
      if (ec == http::error::body_limit) {
        auto res =
            error_response(11, false, make_error(errc::too_large, "the body is too large", "body"));
        co_await http::async_write(stream, res, tuple_awaitable);
        break;
      }
      if (ec) break;
      auto req = parser.release();
      if (beast::websocket::is_upgrade(req)) {
        std::string_view target(req.target().data(), req.target().size());
        if (target.substr(0, target.find('?')) != "/v1/ws") {
          auto res =
              error_response(req.version(), false,
                             make_error(errc::not_found, "WebSocket endpoint is /v1/ws", "path"));
          co_await http::async_write(stream, res, tuple_awaitable);
          break;
        }
        std::optional<device_session> auth;
        if (auto tok = bearer_token(req)) {
          std::string token = *tok;
          auto r = co_await authenticate(ctx, token);
          if (!r) {
            auto res = error_response(req.version(), false, r.err());
            co_await http::async_write(stream, res, tuple_awaitable);
            break;
          }
          auth = *r;
        }
        auto client = client_address(ctx.cfg.trusted_proxies, address, req["X-Forwarded-For"]);
        auto ticket = ctx.conns->acquire(client);
        if (!ticket || (auth && !ticket->add_user(auth->u.id))) {
          auto res = error_response(
              req.version(), false,
              make_error(errc::rate_limited, ticket ? "too many connections open for this user"
                                                    : "too many connections from this address"));
          co_await http::async_write(stream, res, tuple_awaitable);
          break;
        }
        // The connection keeps only the socket's descriptor: the parser, this buffer and
        // the stream's timers go away with this coroutine. Bytes read past the request go
        // along.
        std::string early(static_cast<const char*>(buf.data().data()), buf.size());
        auto channel = stream.release_tls();
        start_websocket(ctx, registry, stream.release_socket(), std::move(channel), std::move(req),
                        std::move(auth), std::move(early), std::move(ticket),
                        client == address ? std::string() : client);
        co_return;
      }
      stream.expires_never();
      auto res = co_await handle(
          req, client_address(ctx.cfg.trusted_proxies, address, req["X-Forwarded-For"]));
      stream.expires_after(std::chrono::milliseconds(ctx.cfg.handshake_timeout_ms));
      auto [wec, wn] = co_await http::async_write(stream, res, tuple_awaitable);
      if (wec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
};

http_listener::http_listener(server_context& ctx, std::vector<asio::io_context*> ios,
                             const std::string& host, std::uint16_t port)
    : impl_(std::make_unique<impl>(ctx, std::move(ios), host, port)) {}

http_listener::~http_listener() = default;

std::uint16_t http_listener::port() const {
  return impl_->acceptor.local_endpoint().port();
}

void http_listener::start() {
  asio::post(impl_->acceptor.get_executor(), [this] { impl_->accept_next(); });
}

void http_listener::stop() {
  asio::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
}

void http_listener::close_websockets(std::uint16_t code, const std::string& reason) {
  impl_->registry.close_all(code, reason);
}

std::size_t http_listener::websocket_count() const {
  return impl_->registry.size();
}

}  // namespace parley
