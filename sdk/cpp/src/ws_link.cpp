// The WebSocket link: Beast's websocket::stream with permessage-deflate offered, Beast's
// keep-alive pings and idle timeout as the heartbeat, and a `sync` request of its own.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/serialize.hpp>
#include <deque>

#include "link.hpp"

namespace parley::sdk::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

// The link's own sync request; the server puts the id first in its reply.
constexpr std::string_view kSyncId = "__sync";
constexpr std::string_view kSyncReply = R"({"id":"__sync",)";

class ws_link final : public link, public std::enable_shared_from_this<ws_link> {
 public:
  ws_link(asio::io_context& io, const client_options& opt, link_events ev)
      : opt_(opt), ev_(std::move(ev)), ws_(io), resolver_(io), sync_timer_(io) {}

  void start(std::optional<json::object> since) override {
    json::object req{{"id", kSyncId}, {"op", "sync"}};
    if (since) req["since"] = std::move(*since);
    sync_frame_ = json::serialize(req);
    beast::get_lowest_layer(ws_).expires_after(opt_.handshake_timeout);
    resolver_.async_resolve(
        opt_.host, std::to_string(opt_.port),
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
          if (self->done_) return;
          if (ec) return self->fail({"resolve: " + ec.message()});
          beast::get_lowest_layer(self->ws_).async_connect(
              r, [self](beast::error_code ec, const tcp::endpoint&) {
                if (self->done_) return;
                if (ec) return self->fail({"connect: " + ec.message()});
                self->handshake();
              });
        });
  }

  void request(std::string frame) override {
    if (done_) return;
    wq_.push_back(std::move(frame));
    write_next();
  }

  void close() override {
    done_ = true;
    sync_timer_.cancel();
    beast::error_code ec;
    auto& s = beast::get_lowest_layer(ws_).socket();
    s.shutdown(tcp::socket::shutdown_both, ec);
    s.close(ec);
  }

 private:
  void handshake() {
    beast::error_code nd;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), nd);
    ws_.set_option(
        websocket::stream_base::decorator([tok = opt_.token](websocket::request_type& r) {
          r.set(beast::http::field::authorization, "Bearer " + tok);
          r.set(beast::http::field::user_agent, "parley-sdk-cpp");
        }));
    websocket::permessage_deflate pmd;
    pmd.client_enable = true;
    ws_.set_option(pmd);
    ws_.read_message_max(64 * 1024 * 1024);
    ws_.async_handshake(res_, opt_.host + ":" + std::to_string(opt_.port), "/v1/ws",
                        [self = shared_from_this()](beast::error_code ec) {
                          if (self->done_) return;
                          if (ec) {
                            // Connected but not upgraded: refused, or no answer (a proxy in the
                            // way).
                            link_closed c{"handshake: " + ec.message()};
                            c.code = static_cast<int>(self->res_.result_int());
                            c.reached = true;
                            c.auth = self->res_.result() == beast::http::status::unauthorized;
                            return self->fail(std::move(c));
                          }
                          beast::get_lowest_layer(self->ws_).expires_never();
                          websocket::stream_base::timeout t;
                          t.handshake_timeout = self->opt_.handshake_timeout;
                          t.idle_timeout = self->opt_.heartbeat_timeout;
                          t.keep_alive_pings = true;
                          self->ws_.set_option(t);
                          self->read();
                          self->arm_sync_timer();
                          self->request(self->sync_frame_);
                        });
  }

  // Until the sync reply, the server must keep sending (replay) or answer in time.
  void arm_sync_timer() {
    if (synced_) return;
    sync_timer_.expires_after(opt_.request_timeout);
    sync_timer_.async_wait([w = weak_from_this()](beast::error_code ec) {
      auto self = w.lock();
      if (ec || !self || self->done_ || self->synced_) return;
      self->fail({"no answer to sync", 0, false, true});
    });
  }

  void write_next() {
    if (writing_ || wq_.empty() || done_) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(wq_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->writing_ = false;
                      if (!self->wq_.empty()) self->wq_.pop_front();
                      if (self->done_) return;
                      if (ec) return self->fail({"write: " + ec.message(), 0, false, true});
                      self->write_next();
                    });
  }

  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (self->done_) return;
      if (ec) {
        link_closed c{"read: " + ec.message(), 0, false, true};
        if (ec == websocket::error::closed) {
          const auto& r = self->ws_.reason();
          c.code = r.code;
          c.why = "closed by the server: " + std::to_string(r.code) + " " +
                  std::string(r.reason.data(), r.reason.size());
          c.auth = r.code == 4003;
        }
        return self->fail(std::move(c));
      }
      std::string text = beast::buffers_to_string(self->buf_.data());
      self->buf_.consume(n);
      bool synced_now = false;
      if (!self->synced_) {
        self->arm_sync_timer();  // data arrived: replay is making progress
        for (std::size_t i = 0; i < text.size();) {
          auto j = text.find('\n', i);
          if (j == std::string::npos) j = text.size();
          std::string_view f(text.data() + i, j - i);
          if (f.starts_with(kSyncReply)) {
            if (f.find(R"("error":)") != std::string_view::npos)
              return self->fail({"sync failed: " + std::string(f), 0, false, true});
            synced_now = true;
          }
          i = j + 1;
        }
      }
      auto keep = self;  // the handlers may close the link
      self->ev_.message(text);
      if (self->done_) return;
      if (synced_now) {
        self->synced_ = true;
        self->sync_timer_.cancel();
        self->ev_.synced();
        if (self->done_) return;
      }
      self->read();
    });
  }

  void fail(link_closed c) {
    if (done_) return;
    c.synced = synced_;
    close();
    auto closed = std::move(ev_.closed);
    ev_ = {};
    closed(std::move(c));
  }

  const client_options opt_;
  link_events ev_;
  websocket::stream<beast::tcp_stream> ws_;
  tcp::resolver resolver_;
  asio::steady_timer sync_timer_;
  websocket::response_type res_;
  beast::flat_buffer buf_;
  std::deque<std::string> wq_;
  std::string sync_frame_;
  bool writing_ = false, synced_ = false, done_ = false;
};

}  // namespace

std::shared_ptr<link> make_ws_link(asio::io_context& io, const client_options& opt,
                                   link_events ev) {
  return std::make_shared<ws_link>(io, opt, std::move(ev));
}

}  // namespace parley::sdk::detail
