#include "transport/http_live.hpp"

#include <sys/socket.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <cerrno>
#include <charconv>
#include <deque>

#include "server/live_ops.hpp"
#include "server/metrics.hpp"
#include "server/session.hpp"
#include "transport/rest_routes.hpp"

namespace parley::http_live {

using namespace http_common;

namespace {

using header_parser = http::request_parser<http::empty_body>;

// The id the transport gives the sync it runs for the client: its reply is not a frame
// for the client but tells that replay is done.
constexpr std::string_view kSyncFrame = R"({"id":"__sync",)";
constexpr std::string_view kSyncRequestStart = R"({"id":"__sync","op":"sync")";

bool is_sync_reply(const std::string& f) {
  return f.compare(0, kSyncFrame.size(), kSyncFrame) == 0;
}

// The sync request that starts delivery from a cursor (empty: live from now; "all": every
// conversation from the join, as `since: {}`).
result<std::string> sync_request(const std::string& cursor) {
  if (cursor.empty()) return std::string(kSyncRequestStart) + "}";
  if (cursor == "all") return std::string(kSyncRequestStart) + ",\"since\":{}}";
  boost::json::object since;
  if (!session::parse_cursor_token(cursor, since))
    return make_error(errc::invalid, "the cursor is not one the server gave", "cursor");
  return std::string(kSyncRequestStart) + ",\"since\":" + boost::json::serialize(since) + "}";
}

// Watches the client's side of a connection the server only writes to (an event stream, a
// waiting poll) and calls `gone` once the client closed it, so that its session ends now
// and not when a write fails much later (the client would count as online meanwhile).
// Bytes from the client (a pipelined request) end the watch without a call; over TLS, a
// TLS alert record (content type 21: close_notify before the TCP close) counts as closing.
template <class F>
void watch_peer(http_stream& stream, F gone) {
  auto& sock = stream.socket();
  const int fd = sock.native_handle();
  sock.async_wait(tcp::socket::wait_read, [fd, tls = stream.is_tls(),
                                           gone = std::move(gone)](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;  // the connection ended first
    char c;
    const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (ec || n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
        (tls && n == 1 && c == 21))
      gone();
  });
}

// ---------------------------------------------------------------------------------------
// Long polling

// Collects the frames of one poll. The response goes out when replay is done and there is
// something to say, when the collected bytes reach the limit (replay pauses: the next poll
// continues from the cursor), when the session is closed, or at the timeout.
class poll_sink final : public frame_sink {
 public:
  poll_sink(asio::steady_timer& wake, std::size_t limit) : wake_(wake), limit_(limit) {}
  void send(std::shared_ptr<const std::string> f) override {
    if (is_sync_reply(*f)) {
      synced = true;
      if (f->find(R"("error":)") != std::string::npos) sync_error = *f;
      if ((!frames.empty() && !awaiting_state) || sync_error) wake_.cancel();
      return;
    }
    bytes_ += f->size();
    frames.push_back(std::move(f));
    if ((synced && !awaiting_state) || bytes_ >= limit_) wake_.cancel();
  }
  // The poll asked for the current state: the answer waits for it (it comes after the
  // sync, from reader threads), so it is not left behind for a session that is gone.
  void state_sent() override {
    awaiting_state = false;
    if (synced && !frames.empty()) wake_.cancel();
  }
  void when_drained(std::function<void()> f) override {
    // Below the limit the next replay round may run now; above it, it waits for the next
    // poll (which starts a new session from the cursor).
    if (bytes_ < limit_) asio::post(wake_.get_executor(), std::move(f));
  }
  void close(std::uint16_t code, std::string reason) override {
    closed = true;
    close_code = code;
    close_reason = std::move(reason);
    wake_.cancel();
  }
  // The client closed the connection: nobody is waiting for the answer.
  void peer_gone() {
    gone = true;
    wake_.cancel();
  }

  std::vector<std::shared_ptr<const std::string>> frames;
  bool synced = false, closed = false, gone = false, awaiting_state = false;
  std::optional<std::string> sync_error;
  std::uint16_t close_code = 0;
  std::string close_reason;

 private:
  asio::steady_timer& wake_;
  std::size_t limit_;
  std::size_t bytes_ = 0;
};

asio::awaitable<bool> poll(server_context& ctx, http_stream& stream, header_parser& hp,
                           const device_session& me) {
  auto& req = hp.get();
  const unsigned ver = req.version();
  const bool ka = req.keep_alive();
  std::string target(req.target());
  auto sync = sync_request(query_value(target, "cursor"));
  if (!sync) co_return co_await write_response(stream, error_response(ver, ka, sync.err()));
  std::int64_t timeout_ms = 25000;
  if (auto t = query_value(target, "timeout_ms"); !t.empty()) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), timeout_ms);
    if (ec != std::errc() || p != t.data() + t.size() || timeout_ms < 0 || timeout_ms > 60000)
      co_return co_await write_response(
          stream, error_response(
                      ver, ka, make_error(errc::invalid, "timeout_ms is 0..60000", "timeout_ms")));
  }
  auto ex = stream.get_executor();
  asio::steady_timer wake(ex);
  wake.expires_after(std::chrono::milliseconds(timeout_ms));
  auto sink =
      std::make_shared<poll_sink>(wake, static_cast<std::size_t>(ctx.cfg.outbound_queue_bytes) / 4);
  auto s = std::make_shared<session>(ctx, ex, sink);
  // Receipts, typing and presence as they are now: only when the client asks (its first
  // poll, or after it lost track), not again on every poll.
  const bool want_state = query_value(target, "state") == "1";
  s->send_state_after_sync(want_state);
  sink->awaiting_state = want_state;
  s->set_auth(me);
  s->on_frame(*sync);
  watch_peer(stream, [w = std::weak_ptr<poll_sink>(sink)] {
    if (auto p = w.lock()) p->peer_gone();
  });
  auto [ec] = co_await wake.async_wait(asio::as_tuple(use_awaitable));
  (void)ec;  // fired (timeout) or cancelled (something to send): either way, answer
  auto cursor = s->cursor_token();
  s->on_closed();
  if (sink->gone) co_return false;
  if (sink->sync_error) {
    auto v = boost::json::parse(*sink->sync_error);
    const auto& e = v.as_object().at("error").as_object();
    auto code = errc_from_name(e.at("code").as_string());
    co_return co_await write_response(
        stream,
        error_response(ver, ka, make_error(code, std::string(e.at("message").as_string()))));
  }
  if (sink->closed && sink->close_code == close_code::logged_out)
    co_return co_await write_response(
        stream, error_response(ver, ka, make_error(errc::unauthenticated, sink->close_reason)));
  std::string body = "{\"frames\":[";
  for (std::size_t i = 0; i < sink->frames.size(); ++i) {
    if (i) body += ',';
    body += *sink->frames[i];
  }
  body += "],\"cursor\":";
  body += boost::json::serialize(boost::json::value(cursor));
  body += '}';
  co_return co_await write_response(stream, json_response(ver, ka, 200, std::move(body)));
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events

// Formats each frame as an SSE event whose id is the session's position after it, and
// queues it for the writer; closes the stream past the outbound limit (the client
// reconnects with Last-Event-ID and resumes).
class sse_sink final : public frame_sink {
 public:
  sse_sink(asio::steady_timer& wake, std::size_t limit) : wake_(wake), limit_(limit) {}
  void attach(session* s) { session_ = s; }
  void send(std::shared_ptr<const std::string> f) override {
    if (done) return;
    std::string ev = "id: " + (session_ ? session_->cursor_token() : std::string()) + "\n";
    if (is_sync_reply(*f)) {
      if (f->find(R"("error":)") != std::string::npos) {
        ev += "event: error\ndata: " + *f + "\n\n";
        done = true;  // a sync that failed ends the stream
      } else {
        ev += "event: synced\ndata: {}\n\n";  // replay done; the id is the position
      }
    } else {
      ev += "data: " + *f + "\n\n";
    }
    bytes_ += ev.size();
    queue.push_back(std::move(ev));
    if (bytes_ > limit_) {
      queue.push_back(
          "event: close\ndata: {\"code\":4002,\"reason\":\"slow consumer; resume\"}\n\n");
      done = true;
    }
    wake_.cancel();
  }
  void when_drained(std::function<void()> f) override {
    if (bytes_ <= limit_ / 2)
      asio::post(wake_.get_executor(), std::move(f));
    else
      drained_waiters_.push_back(std::move(f));
  }
  void close(std::uint16_t code, std::string reason) override {
    if (done) return;
    boost::json::object o{{"code", code}, {"reason", reason}};
    queue.push_back("event: close\ndata: " + boost::json::serialize(o) + "\n\n");
    done = true;
    wake_.cancel();
  }
  // The client closed the connection: the stream ends now.
  void peer_gone() {
    queue.clear();
    done = true;
    wake_.cancel();
  }
  // The writer took `n` bytes off the queue.
  void written(std::size_t n) {
    bytes_ -= std::min(bytes_, n);
    if (bytes_ <= limit_ / 2) {
      auto ws = std::move(drained_waiters_);
      drained_waiters_.clear();
      for (auto& f : ws) asio::post(wake_.get_executor(), std::move(f));
    }
  }

  std::deque<std::string> queue;
  bool done = false;

 private:
  asio::steady_timer& wake_;
  std::size_t limit_;
  std::size_t bytes_ = 0;
  session* session_ = nullptr;
  std::vector<std::function<void()>> drained_waiters_;
};

asio::awaitable<bool> sse(server_context& ctx, http_stream& stream, header_parser& hp,
                          const device_session& me) {
  auto& req = hp.get();
  const unsigned ver = req.version();
  std::string target(req.target());
  // A reconnecting EventSource sends the last id it saw; it wins over the URL's cursor.
  std::string cursor = std::string(req["Last-Event-ID"]);
  if (cursor.empty()) cursor = query_value(target, "cursor");
  auto sync = sync_request(cursor);
  if (!sync) co_return co_await write_response(stream, error_response(ver, false, sync.err()));

  auto ticket = ctx.conns->acquire(request_address(ctx, stream, req));
  if (!ticket || !ticket->add_user(me.u.id))
    co_return co_await write_response(
        stream, error_response(ver, false,
                               make_error(errc::rate_limited,
                                          ticket ? "too many connections open for this user"
                                                 : "too many connections from this address")));

  http::response<http::empty_body> head{http::status::ok, ver};
  head.set(http::field::server, "parley");
  allow_cross_origin(head);
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-store");
  head.set("X-Accel-Buffering", "no");
  head.keep_alive(false);
  http::response_serializer<http::empty_body> sr{head};
  auto [hec, hn] = co_await http::async_write_header(stream, sr, tuple_awaitable);
  if (hec) co_return false;

  auto ex = stream.get_executor();
  asio::steady_timer wake(ex);
  auto sink =
      std::make_shared<sse_sink>(wake, static_cast<std::size_t>(ctx.cfg.outbound_queue_bytes));
  auto s = std::make_shared<session>(ctx, ex, sink);
  sink->attach(s.get());
  s->set_ticket(std::move(ticket));
  s->set_auth(me);
  s->on_frame(*sync);
  ctx.m->connections.fetch_add(1, std::memory_order_relaxed);
  const auto heartbeat =
      std::chrono::milliseconds(std::max<std::int64_t>(ctx.cfg.heartbeat_timeout_ms / 2, 100));
  // "retry": how long a browser waits before reconnecting.
  sink->queue.push_front("retry: 1000\n\n");
  watch_peer(stream, [w = std::weak_ptr<sse_sink>(sink)] {
    if (auto p = w.lock()) p->peer_gone();
  });
  for (;;) {
    while (!sink->queue.empty()) {
      // Everything queued goes out in one write.
      std::string batch;
      while (!sink->queue.empty()) {
        batch += sink->queue.front();
        sink->queue.pop_front();
      }
      stream.expires_after(std::chrono::milliseconds(ctx.cfg.heartbeat_timeout_ms));
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(batch), tuple_awaitable);
      if (ec) goto end;
      sink->written(batch.size());
    }
    if (sink->done) break;
    wake.expires_after(heartbeat);
    auto [wec] = co_await wake.async_wait(asio::as_tuple(use_awaitable));
    if (!wec) sink->queue.push_back(": keep-alive\n\n");  // timer fired: a comment heartbeat
  }
end:
  ctx.m->connections.fetch_sub(1, std::memory_order_relaxed);
  s->on_closed();
  co_return false;
}

// ---------------------------------------------------------------------------------------
// Commands

asio::awaitable<bool> rpc(server_context& ctx, http_stream& stream, beast::flat_buffer& buf,
                          header_parser& hp, const device_session& me) {
  const unsigned ver = hp.get().version();
  const auto limit = static_cast<std::uint64_t>(ctx.cfg.max_http_body_bytes);
  if (hp.content_length().value_or(0) > limit)
    co_return co_await write_response(
        stream,
        error_response(ver, false, make_error(errc::too_large, "the body is too large", "body")));
  http::request_parser<http::string_body> p{std::move(hp)};
  p.body_limit(limit);
  auto [ec, n] = co_await http::async_read(stream, buf, p, tuple_awaitable);
  if (ec == http::error::body_limit)
    co_return co_await write_response(
        stream,
        error_response(ver, false, make_error(errc::too_large, "the body is too large", "body")));
  if (ec) co_return false;
  const bool ka = p.get().keep_alive();
  boost::json::parse_options po;
  po.max_depth = 32;
  boost::system::error_code pec;
  auto v = boost::json::parse(p.get().body(), pec, {}, po);
  if (pec || !v.is_object())
    co_return co_await write_response(
        stream,
        error_response(ver, ka, make_error(errc::invalid, "a request is a JSON object", "body")));
  auto args = std::move(v.as_object());
  // The id is echoed as it came, so it must be what a WebSocket request's id may be: a
  // string of at most 64 characters or an integer (not a number like 1e999, which has no
  // JSON form to echo, nor an object).
  std::string id_text = "null";
  if (auto idv = args.if_contains("id")) {
    const bool ok =
        idv->is_int64() || idv->is_uint64() || (idv->is_string() && idv->get_string().size() <= 64);
    if (!ok)
      co_return co_await write_response(
          stream,
          error_response(ver, ka,
                         make_error(errc::invalid, "id must be a string or an integer", "id")));
    id_text = boost::json::serialize(*idv);
    args.erase("id");
  }
  auto opv = args.if_contains("op");
  if (!opv || !opv->is_string())
    co_return co_await write_response(
        stream, error_response(ver, ka, make_error(errc::invalid, "op must be a string", "op")));
  std::string op(opv->as_string());
  args.erase("op");
  if (op == "sync" || op == "auth")
    co_return co_await write_response(
        stream,
        error_response(
            ver, ka,
            make_error(errc::invalid, op + " is for streams: use GET /v1/sse or /v1/poll", "op")));
  caller who{me, request_address(ctx, stream, p.get())};
  auto start = [&ctx, &who, &op, &args](auto done) {
    if (!call_live_op(ctx, who, op, args, done)) ctx.svc->call(who, op, args, std::move(done));
  };
  auto call = await_callback<result<std::string>>(start);
  auto r = co_await std::move(call);
  std::string body = "{\"id\":" + id_text;
  if (r) {
    body += ",\"result\":" + *r + "}";
  } else {
    ctx.m->count_error(r.err().code);
    boost::json::object e{{"code", errc_name(r.err().code)}, {"message", r.err().message}};
    if (!r.err().field.empty()) e["field"] = r.err().field;
    if (r.err().code == errc::rate_limited) e["retry_after_ms"] = r.err().retry_after_ms;
    body += ",\"error\":" + boost::json::serialize(e) + "}";
  }
  co_return co_await write_response(stream, json_response(ver, ka, 200, std::move(body)));
}

}  // namespace

bool is_live_target(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  return path == "/v1/sse" || path == "/v1/poll" || path == "/v1/rpc";
}

asio::awaitable<bool> serve(server_context& ctx, http_stream& stream, beast::flat_buffer& buf,
                            header_parser& hp) {
  auto& req = hp.get();
  const unsigned ver = req.version();
  std::string_view target(req.target().data(), req.target().size());
  auto path = target.substr(0, target.find('?'));
  const bool has_body = hp.chunked() || hp.content_length().value_or(0) > 0;
  ctx.m->http_requests_total.fetch_add(1, std::memory_order_relaxed);
  auto want = path == "/v1/rpc" ? http::verb::post : http::verb::get;
  if (req.method() != want) {
    co_await write_response(stream, method_not_allowed(ver, false));
    co_return false;
  }
  if (want == http::verb::get && has_body)
    co_return co_await write_response(
        stream, error_response(ver, false, make_error(errc::invalid, "a GET has no body", "body")));
  auto who = co_await authenticate_request(ctx, req, "this needs Authorization: Bearer");
  if (!who) co_return co_await reply_error(stream, ver, !has_body && req.keep_alive(), who.err());
  if (path == "/v1/rpc") co_return co_await rpc(ctx, stream, buf, hp, *who);
  stream.expires_never();
  if (path == "/v1/poll") co_return co_await poll(ctx, stream, hp, *who);
  co_return co_await sse(ctx, stream, hp, *who);
}

}  // namespace parley::http_live
