// The HTTP links: Server-Sent Events (GET /v1/sse) and long polling (GET /v1/poll), both
// with requests over POST /v1/rpc (docs/protocol.md, "Server-Sent Events and long
// polling"). Requests go one at a time over one keep-alive connection, so sends are
// committed in the order they were made, as on a WebSocket.
#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <deque>
#include <map>

#include "link.hpp"

namespace parley::sdk::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using asio::use_awaitable;

std::string cursor_of(const std::optional<json::object>& since) {
  if (!since) return "";
  if (since->empty()) return "all";
  std::map<std::int64_t, std::int64_t> sorted;
  for (const auto& [k, v] : *since)
    if (v.is_int64()) sorted[std::stoll(std::string(k))] = v.as_int64();
  std::string out;
  for (const auto& [c, s] : sorted) {
    if (!out.empty()) out += '-';
    out += std::to_string(c) + "." + std::to_string(s);
  }
  return out.empty() ? "all" : out;
}

namespace {

constexpr std::size_t kMaxBody = 64u << 20;

// Connects a stream to the server within the handshake timeout.
asio::awaitable<beast::error_code> connect_to(beast::tcp_stream& s, const client_options& opt) {
  beast::error_code ec;
  tcp::resolver resolver(s.get_executor());
  auto eps = co_await resolver.async_resolve(opt.host, std::to_string(opt.port),
                                             asio::redirect_error(use_awaitable, ec));
  if (ec) co_return ec;
  s.expires_after(opt.handshake_timeout);
  co_await s.async_connect(eps, asio::redirect_error(use_awaitable, ec));
  if (!ec) s.socket().set_option(tcp::no_delay(true), ec);
  co_return ec;
}

http::request<http::string_body> make_request(const client_options& opt, http::verb v,
                                              std::string target, std::string body = {}) {
  http::request<http::string_body> req{v, target, 11};
  req.set(http::field::host, opt.host + ":" + std::to_string(opt.port));
  req.set(http::field::authorization, "Bearer " + opt.token);
  req.set(http::field::user_agent, "parley-sdk-cpp");
  req.keep_alive(true);
  if (v == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
  }
  return req;
}

// Requests over POST /v1/rpc, one at a time on one keep-alive connection. A reply goes to
// on_reply; a failure (after one retry on a fresh connection when a reused one turned out
// closed) to on_fail, after which the channel does nothing more.
class rpc_channel : public std::enable_shared_from_this<rpc_channel> {
 public:
  rpc_channel(asio::io_context& io, const client_options& opt,
              std::function<void(std::string)> on_reply, std::function<void(link_closed)> on_fail)
      : io_(io), opt_(opt), on_reply_(std::move(on_reply)), on_fail_(std::move(on_fail)) {}

  void push(std::string frame) {
    if (done_) return;
    q_.push_back(std::move(frame));
    if (running_) return;
    running_ = true;
    asio::co_spawn(io_, run(shared_from_this()), asio::detached);
  }

  void close() {
    done_ = true;
    if (s_) s_->close();
  }

 private:
  static asio::awaitable<void> run(std::shared_ptr<rpc_channel> self) {
    while (!self->q_.empty() && !self->done_) {
      http::response<http::string_body> res;
      beast::error_code ec;
      for (int attempt = 0;; ++attempt) {
        const bool reused = self->s_ != nullptr;
        bool answered = false;
        ec = co_await self->exchange(self->q_.front(), res, answered);
        if (self->done_) co_return;
        if (!ec) break;
        self->s_.reset();
        if (attempt == 0 && reused && !answered) continue;  // the server closed it idle
        self->fail({"rpc: " + ec.message(), 0, false, answered});
        co_return;
      }
      auto frame = std::move(self->q_.front());
      self->q_.pop_front();
      if (!res.keep_alive()) self->s_.reset();
      const int status = static_cast<int>(res.result_int());
      if (status == 401) {
        self->fail({"rpc: the token was rejected", 401, true, true});
        co_return;
      }
      std::string reply = std::move(res.body());
      if (status != 200) reply = error_reply(frame, status, reply);
      self->on_reply_(std::move(reply));
    }
    self->running_ = false;
  }

  // One request and its response; `answered` is set once response bytes arrived.
  asio::awaitable<beast::error_code> exchange(const std::string& frame,
                                              http::response<http::string_body>& res,
                                              bool& answered) {
    beast::error_code ec;
    if (!s_) {
      s_ = std::make_unique<beast::tcp_stream>(io_);
      buf_.clear();
      ec = co_await connect_to(*s_, opt_);
      if (ec) co_return ec;
    }
    auto req = make_request(opt_, http::verb::post, "/v1/rpc", frame);
    s_->expires_after(opt_.request_timeout);
    co_await http::async_write(*s_, req, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return ec;
    http::response_parser<http::string_body> p;
    p.body_limit(kMaxBody);
    co_await http::async_read_header(*s_, buf_, p, asio::redirect_error(use_awaitable, ec));
    if (!ec || p.got_some()) answered = true;
    if (ec) co_return ec;
    co_await http::async_read(*s_, buf_, p, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return ec;
    res = p.release();
    co_return ec;
  }

  // A reply frame for a request the server refused at the HTTP level (413, 400, ...).
  static std::string error_reply(const std::string& frame, int status, const std::string& body) {
    json::object reply;
    boost::system::error_code ec;
    auto req = json::parse(frame, ec);
    reply["id"] =
        !ec && req.is_object() && req.as_object().contains("id") ? req.at("id") : json::value();
    auto b = json::parse(body, ec);
    if (!ec && b.is_object() && b.as_object().contains("error"))
      reply["error"] = b.at("error");
    else
      reply["error"] = {{"code", status == 413 ? "too_large" : "internal"},
                        {"message", "HTTP " + std::to_string(status)}};
    return json::serialize(reply);
  }

  void fail(link_closed c) {
    if (done_) return;
    close();
    on_fail_(std::move(c));
  }

  asio::io_context& io_;
  const client_options opt_;
  std::function<void(std::string)> on_reply_;
  std::function<void(link_closed)> on_fail_;
  std::unique_ptr<beast::tcp_stream> s_;
  beast::flat_buffer buf_;
  std::deque<std::string> q_;
  bool running_ = false, done_ = false;
};

// What the SSE and polling links share: the options, the handlers, the rpc channel, and
// ending once.
class http_link : public link, public std::enable_shared_from_this<http_link> {
 public:
  http_link(asio::io_context& io, const client_options& opt, link_events ev)
      : io_(io), opt_(opt), ev_(std::move(ev)) {}

  void request(std::string frame) override {
    if (done_) return;
    if (!rpc_) {
      std::weak_ptr<http_link> w = shared_from_this();
      rpc_ = std::make_shared<rpc_channel>(
          io_, opt_,
          [w](std::string reply) {
            if (auto self = w.lock(); self && !self->done_) self->ev_.message(reply);
          },
          [w](link_closed c) {
            if (auto self = w.lock()) self->fail(std::move(c));
          });
    }
    rpc_->push(std::move(frame));
  }

  void close() override {
    done_ = true;
    if (rpc_) rpc_->close();
    if (s_) s_->close();
  }

 protected:
  void fail(link_closed c) {
    if (done_) return;
    c.synced = synced_;
    close();
    auto closed = std::move(ev_.closed);
    ev_ = {};
    closed(std::move(c));
  }
  void mark_synced() {
    if (synced_ || done_) return;
    synced_ = true;
    ev_.synced();
  }

  asio::io_context& io_;
  const client_options opt_;
  link_events ev_;
  std::shared_ptr<rpc_channel> rpc_;
  std::unique_ptr<beast::tcp_stream> s_;  // the stream or poll connection
  bool synced_ = false, done_ = false;
};

// GET /v1/sse: events and notices as `data:` lines, `event: synced` once replay is done,
// `event: close` when the server ends the stream; comment lines keep it alive.
class sse_link final : public http_link {
 public:
  using http_link::http_link;

  void start(std::optional<json::object> since) override {
    auto self = std::static_pointer_cast<sse_link>(shared_from_this());
    asio::co_spawn(io_, run(self, cursor_of(since)), asio::detached);
  }

 private:
  static asio::awaitable<void> run(std::shared_ptr<sse_link> self, std::string cursor) {
    self->s_ = std::make_unique<beast::tcp_stream>(self->io_);
    auto& s = *self->s_;
    auto ec = co_await connect_to(s, self->opt_);
    if (self->done_) co_return;
    if (ec) co_return self->fail({"connect: " + ec.message()});
    auto req = make_request(self->opt_, http::verb::get, "/v1/sse?cursor=" + cursor);
    req.set(http::field::accept, "text/event-stream");
    s.expires_after(self->opt_.handshake_timeout);
    co_await http::async_write(s, req, asio::redirect_error(use_awaitable, ec));
    if (self->done_) co_return;
    if (ec) co_return self->fail({"write: " + ec.message(), 0, false, true});
    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> p;
    p.body_limit(boost::none);
    co_await http::async_read_header(s, buf, p, asio::redirect_error(use_awaitable, ec));
    if (self->done_) co_return;
    // Connected but no answer in time: something between us buffers or drops the stream.
    if (ec) co_return self->fail({"read: " + ec.message(), 0, false, true});
    const int status = static_cast<int>(p.get().result_int());
    if (status != 200)
      co_return self->fail({"HTTP " + std::to_string(status), status, status == 401, true});
    std::array<char, 16 * 1024> chunk;
    for (;;) {
      // Until synced, the server must keep replaying or say it is live in time (a proxy
      // that buffers the stream says nothing); after it, keep-alive comments come.
      s.expires_after(self->synced_ ? self->opt_.heartbeat_timeout : self->opt_.handshake_timeout);
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      co_await http::async_read_some(s, buf, p, asio::redirect_error(use_awaitable, ec));
      if (self->done_) co_return;
      if (ec == http::error::need_buffer) ec = {};
      const std::size_t n = chunk.size() - p.get().body().size;
      if (n > 0) self->feed({chunk.data(), n});
      if (self->done_) co_return;
      if (ec || p.is_done())
        co_return self->fail({ec ? "read: " + ec.message() : "the stream ended", 0, false, true});
    }
  }

  // Parses event-stream text (lines end in \n, \r\n or \r) and dispatches each event.
  void feed(std::string_view text) {
    for (char ch : text) {
      if (ch == '\n' && last_cr_) {
        last_cr_ = false;
        continue;
      }
      last_cr_ = ch == '\r';
      if (ch != '\n' && ch != '\r') {
        line_ += ch;
        continue;
      }
      if (line_.empty()) {
        dispatch();
        if (done_) return;
        continue;
      }
      std::string_view l(line_);
      auto colon = l.find(':');
      std::string_view field = l.substr(0, colon), value;
      if (colon != std::string_view::npos) {
        value = l.substr(colon + 1);
        if (value.starts_with(' ')) value.remove_prefix(1);
      }
      if (field == "data") {
        if (!data_.empty()) data_ += '\n';
        data_ += value;
        has_data_ = true;
      } else if (field == "event") {
        event_ = value;
      }
      line_.clear();
    }
  }

  void dispatch() {
    std::string event = std::move(event_), data = std::move(data_);
    bool had = has_data_;
    event_.clear();
    data_.clear();
    has_data_ = false;
    if (event == "synced") return mark_synced();
    if (event == "close" || event == "error") {
      boost::system::error_code ec;
      auto v = json::parse(data, ec);
      int code = 0;
      if (!ec && v.is_object())
        if (auto c = v.as_object().if_contains("code"); c && c->is_int64())
          code = static_cast<int>(c->as_int64());
      return fail({"the server ended the stream: " + data, code, code == 4003, true});
    }
    if (had && event.empty()) ev_.message(data);
  }

  std::string line_, data_, event_;
  bool has_data_ = false, last_cr_ = false;
};

// GET /v1/poll in a loop: each answer's frames, then the next poll from its cursor.
class poll_link final : public http_link {
 public:
  using http_link::http_link;

  void start(std::optional<json::object> since) override {
    auto self = std::static_pointer_cast<poll_link>(shared_from_this());
    asio::co_spawn(io_, run(self, cursor_of(since)), asio::detached);
  }

 private:
  static asio::awaitable<void> run(std::shared_ptr<poll_link> self, std::string cursor) {
    // Each poll waits at most half the heartbeat timeout (25 s at most) for something new.
    const auto wait =
        std::clamp<std::int64_t>(self->opt_.heartbeat_timeout.count() / 2, 1000, 25000);
    bool first = true;
    beast::flat_buffer buf;
    while (!self->done_) {
      beast::error_code ec;
      if (!self->s_) {
        self->s_ = std::make_unique<beast::tcp_stream>(self->io_);
        buf.clear();
        ec = co_await connect_to(*self->s_, self->opt_);
        if (self->done_) co_return;
        if (ec) co_return self->fail({"connect: " + ec.message()});
      }
      auto& s = *self->s_;
      std::string target = "/v1/poll?cursor=" + cursor + "&timeout_ms=" + std::to_string(wait);
      if (first) target += "&state=1";
      auto req = make_request(self->opt_, http::verb::get, target);
      s.expires_after(std::chrono::milliseconds(wait) + self->opt_.request_timeout);
      co_await http::async_write(s, req, asio::redirect_error(use_awaitable, ec));
      if (self->done_) co_return;
      if (ec) co_return self->fail({"write: " + ec.message()});
      http::response_parser<http::string_body> p;
      p.body_limit(kMaxBody);
      co_await http::async_read(s, buf, p, asio::redirect_error(use_awaitable, ec));
      if (self->done_) co_return;
      if (ec) co_return self->fail({"read: " + ec.message(), 0, false, p.got_some()});
      auto res = p.release();
      const int status = static_cast<int>(res.result_int());
      if (status != 200)
        co_return self->fail(
            {"HTTP " + std::to_string(status) + " " + res.body(), status, status == 401, true});
      boost::system::error_code jec;
      auto v = json::parse(res.body(), jec);
      if (jec || !v.is_object() || !v.as_object().contains("cursor") ||
          !v.at("cursor").is_string() || !v.as_object().contains("frames") ||
          !v.at("frames").is_array())
        co_return self->fail({"a poll answer that is not {frames, cursor}", status, false, true});
      cursor = std::string(v.at("cursor").as_string());
      std::string text;
      for (const auto& f : v.at("frames").as_array()) {
        if (!text.empty()) text += '\n';
        text += json::serialize(f);
      }
      if (!res.keep_alive()) self->s_.reset();
      if (!text.empty()) self->ev_.message(text);
      if (self->done_) co_return;
      if (first) self->mark_synced();
      first = false;
    }
  }
};

}  // namespace

std::shared_ptr<link> make_sse_link(asio::io_context& io, const client_options& opt,
                                    link_events ev) {
  return std::make_shared<sse_link>(io, opt, std::move(ev));
}

std::shared_ptr<link> make_poll_link(asio::io_context& io, const client_options& opt,
                                     link_events ev) {
  return std::make_shared<poll_link>(io, opt, std::move(ev));
}

}  // namespace parley::sdk::detail
