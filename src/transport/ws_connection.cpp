#include "transport/ws_connection.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

#include "server/session.hpp"

namespace parley {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
namespace asio = boost::asio;

std::uint64_t ws_registry::add(closer c) {
  std::lock_guard lk(mu_);
  auto id = next_++;
  all_.emplace(id, std::move(c));
  return id;
}

void ws_registry::remove(std::uint64_t id) {
  std::lock_guard lk(mu_);
  all_.erase(id);
}

void ws_registry::close_all(std::uint16_t code, const std::string& reason) {
  std::vector<closer> cs;
  {
    std::lock_guard lk(mu_);
    for (auto& [id, c] : all_) cs.push_back(c);
  }
  for (auto& c : cs) c(code, reason);
}

std::size_t ws_registry::size() const {
  std::lock_guard lk(mu_);
  return all_.size();
}

namespace {

constexpr std::size_t kBatchBytes = 64 * 1024;    // most bytes gathered into one message
constexpr std::size_t kDrainedBytes = 64 * 1024;  // low watermark for when_drained (at most)

class ws_connection final : public frame_sink, public std::enable_shared_from_this<ws_connection> {
 public:
  ws_connection(server_context& ctx, ws_registry& reg, beast::tcp_stream stream)
      : ctx_(ctx), reg_(reg), ws_(std::move(stream)), auth_timer_(ws_.get_executor()) {}

  void start(http::request<http::string_body> req, std::optional<device_session> auth) {
    auto self = shared_from_this();
    session_ = std::make_shared<session>(ctx_, ws_.get_executor(), self);
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::milliseconds(ctx_.cfg.handshake_timeout_ms);
    t.idle_timeout = std::chrono::milliseconds(ctx_.cfg.heartbeat_timeout_ms);
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "parley"); }));
    ws_.read_message_max(static_cast<std::size_t>(ctx_.cfg.max_frame_hard_bytes));
    ws_.auto_fragment(false);  // one batch, one frame: no 4 KiB fragments to assemble
    auto ex = ws_.get_executor();
    std::weak_ptr<ws_connection> weak = self;
    reg_id_ = reg_.add([weak, ex](std::uint16_t code, const std::string& reason) {
      asio::post(ex, [weak, code, reason] {
        if (auto s = weak.lock()) s->close(code, reason);
      });
    });
    ws_.async_accept(req, [self, auth = std::move(auth)](beast::error_code ec) mutable {
      self->on_accept(ec, std::move(auth));
    });
  }

  void send(std::shared_ptr<const std::string> frame) override {
    if (closing_) return;
    queued_bytes_ += frame->size();
    if (queued_bytes_ > static_cast<std::size_t>(ctx_.cfg.outbound_queue_bytes)) {
      ctx_.m->slow_consumer_closes_total.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("event=slow_consumer user={} queued_bytes={}", session_->uid(), queued_bytes_);
      return close(close_code::slow_consumer, "slow consumer: resume to catch up");
    }
    queue_.push_back(std::move(frame));
    write_next();
  }

  // A quarter of the outbound limit at most, so a replay round (half the limit) queued on
  // top of it never trips the slow-consumer close.
  std::size_t low_watermark() const {
    return std::min(kDrainedBytes, static_cast<std::size_t>(ctx_.cfg.outbound_queue_bytes) / 4);
  }

  void when_drained(std::function<void()> f) override {
    if (queued_bytes_ <= low_watermark()) {
      asio::post(ws_.get_executor(), std::move(f));
    } else {
      drained_ = std::move(f);
    }
  }

  void close(std::uint16_t code, std::string reason) override {
    if (closing_) return;
    closing_ = true;
    for (auto& f : queue_) queued_bytes_ -= f->size();
    queue_.clear();
    pending_close_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    if (!writing_) do_close();
  }

 private:
  void on_accept(beast::error_code ec, std::optional<device_session> auth) {
    if (ec) {
      reg_.remove(reg_id_);
      session_->on_closed();
      return;
    }
    ctx_.m->connections.fetch_add(1, std::memory_order_relaxed);
    ctx_.m->connections_total.fetch_add(1, std::memory_order_relaxed);
    open_ = true;
    if (auth) {
      session_->set_auth(std::move(*auth));
    } else {
      auth_timer_.expires_after(std::chrono::milliseconds(ctx_.cfg.auth_timeout_ms));
      auth_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec && !self->session_->authenticated())
          self->close(close_code::auth_timeout, "authentication timeout");
      });
    }
    read_next();
  }

  void read_next() {
    ws_.async_read(rbuf_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (ec) return finish(ec);
    if (!closing_) {
      if (n > static_cast<std::size_t>(ctx_.cfg.max_frame_bytes)) {
        session_->reject_oversize(n);
      } else if (!ws_.got_text()) {
        session_->on_frame(std::string_view{});  // answered as invalid JSON
      } else {
        auto d = rbuf_.cdata();
        session_->on_frame(std::string_view(static_cast<const char*>(d.data()), d.size()));
      }
    }
    rbuf_.consume(rbuf_.size());
    if (rbuf_.capacity() > 16 * 1024) rbuf_ = beast::flat_buffer();  // idle connections stay small
    read_next();
  }

  // One frame goes out straight from its shared buffer. Several are joined into one
  // contiguous message buffer: a memcpy is far cheaper than Beast walking a long gather
  // list (profiled: the gather write was the top symbol under fan-out load). The buffer
  // exists only while a write is in flight.
  void write_next() {
    if (writing_ || queue_.empty()) return;
    writing_ = true;
    std::size_t bytes = queue_.front()->size();
    inflight_.push_back(std::move(queue_.front()));
    queue_.pop_front();
    asio::const_buffer out(inflight_.front()->data(), inflight_.front()->size());
    if (!queue_.empty()) {
      wbuf_.clear();
      wbuf_.append(*inflight_.front());
      while (!queue_.empty() && bytes + queue_.front()->size() <= kBatchBytes) {
        wbuf_ += '\n';
        wbuf_.append(*queue_.front());
        bytes += queue_.front()->size();
        queue_.pop_front();
      }
      out = asio::const_buffer(wbuf_.data(), wbuf_.size());
    }
    ws_.text(true);
    ws_.async_write(out, [self = shared_from_this(), bytes](beast::error_code ec, std::size_t) {
      self->on_write(ec, bytes);
    });
  }

  void on_write(beast::error_code ec, std::size_t bytes) {
    writing_ = false;
    inflight_.clear();
    if (wbuf_.capacity() > kBatchBytes * 2) wbuf_ = std::string();
    wbuf_.clear();
    queued_bytes_ -= std::min(queued_bytes_, bytes);
    if (ec) {
      closing_ = true;
      beast::get_lowest_layer(ws_).socket().close(ec);
      return;
    }
    if (pending_close_) return do_close();
    if (drained_ && queued_bytes_ <= low_watermark()) {
      auto f = std::move(drained_);
      drained_ = nullptr;
      f();
    }
    write_next();
  }

  void do_close() {
    auto reason = *pending_close_;
    pending_close_.reset();
    writing_ = true;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(2));
    ws_.async_close(reason, [self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both,
                                                           ignored);
    });
  }

  void finish(beast::error_code ec) {
    if (ec && ec != websocket::error::closed && ec != asio::error::operation_aborted &&
        ec != asio::error::eof)
      spdlog::debug("event=ws_closed user={} reason=\"{}\"", session_->uid(), ec.message());
    if (ec == websocket::error::message_too_big) {
      // Beast has already answered with close code 1009.
    }
    auth_timer_.cancel();
    closing_ = true;
    queue_.clear();
    drained_ = nullptr;
    if (open_) ctx_.m->connections.fetch_sub(1, std::memory_order_relaxed);
    open_ = false;
    reg_.remove(reg_id_);
    session_->on_closed();
  }

  server_context& ctx_;
  ws_registry& reg_;
  websocket::stream<beast::tcp_stream> ws_;
  asio::steady_timer auth_timer_;
  std::shared_ptr<session> session_;
  std::uint64_t reg_id_ = 0;
  beast::flat_buffer rbuf_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::vector<std::shared_ptr<const std::string>> inflight_;
  std::string wbuf_;  // frames joined for one write; empty between writes
  std::size_t queued_bytes_ = 0;
  std::function<void()> drained_;
  std::optional<websocket::close_reason> pending_close_;
  bool writing_ = false;
  bool closing_ = false;
  bool open_ = false;
};

}  // namespace

void start_websocket(server_context& ctx, ws_registry& reg, beast::tcp_stream stream,
                     http::request<http::string_body> req, std::optional<device_session> auth) {
  auto c = std::make_shared<ws_connection>(ctx, reg, std::move(stream));
  c->start(std::move(req), std::move(auth));
}

}  // namespace parley
