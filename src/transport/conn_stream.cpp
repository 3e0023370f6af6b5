#include "transport/conn_stream.hpp"

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/errc.hpp>
#include <string>

namespace parley {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

namespace {

error_code tls_error() {
  return boost::system::errc::make_error_code(boost::system::errc::protocol_error);
}

}  // namespace

struct conn_stream::tls_state {
  explicit tls_state(const tls_context& ctx) : ch(std::make_unique<tls_channel>(ctx)) {}
  std::unique_ptr<tls_channel> ch;
  std::array<char, 17 * 1024> in;  // ciphertext being read: a whole record fits
  std::string out;                 // ciphertext being written
};

conn_stream::conn_stream(next_layer_type s) : s_(std::move(s)) {}
conn_stream::conn_stream(conn_stream&&) noexcept = default;
conn_stream::~conn_stream() = default;

std::unique_ptr<tls_channel> conn_stream::release_tls() {
  if (!tls_) return nullptr;
  auto ch = std::move(tls_->ch);
  tls_.reset();
  return ch;
}

std::string conn_stream::tls_failure() const {
  return tls_ && tls_->ch ? tls_->ch->failure() : std::string();
}

char* conn_stream::tls_staging() {
  thread_local std::array<char, kStagingBytes> staging;
  return staging.data();
}

template <class F>
void conn_stream::send_output(F next) {
  tls_->ch->take_output(tls_->out);
  if (tls_->out.empty()) return next(error_code());
  asio::async_write(s_, asio::buffer(tls_->out),
                    [next = std::move(next)](error_code ec, std::size_t) mutable { next(ec); });
}

void conn_stream::start_handshake(const tls_context& ctx, done_handler h) {
  try {
    tls_ = std::make_unique<tls_state>(ctx);
  } catch (const std::exception&) {
    auto ec = tls_error();
    asio::post(s_.get_executor(), [h = std::move(h), ec]() mutable { std::move(h)(ec); });
    return;
  }
  // The first step waits for the ClientHello: it never completes inline.
  handshake_step(std::move(h));
}

void conn_stream::handshake_step(done_handler h) {
  auto st = tls_->ch->handshake();
  send_output([this, st, h = std::move(h)](error_code ec) mutable {
    if (!ec && st == tls_channel::status::failed) ec = tls_error();
    if (ec || st == tls_channel::status::done) return std::move(h)(ec);
    s_.async_read_some(asio::buffer(tls_->in),
                       [this, h = std::move(h)](error_code ec, std::size_t n) mutable {
                         tls_->ch->feed(tls_->in.data(), n);
                         if (ec) return std::move(h)(ec);
                         handshake_step(std::move(h));
                       });
  });
}

void conn_stream::tls_read(asio::mutable_buffer b, rw_handler h, bool initiating) {
  auto complete = [this, initiating](rw_handler h, error_code ec, std::size_t n) {
    if (!initiating) return std::move(h)(ec, n);
    asio::post(s_.get_executor(), [h = std::move(h), ec, n]() mutable { std::move(h)(ec, n); });
  };
  if (b.size() == 0) return complete(std::move(h), {}, 0);
  tls_channel::status st;
  std::size_t n = tls_->ch->read(b.data(), b.size(), st);
  if (n > 0) return complete(std::move(h), {}, n);
  if (st == tls_channel::status::closed) return complete(std::move(h), asio::error::eof, 0);
  if (st == tls_channel::status::failed) return complete(std::move(h), tls_error(), 0);
  // Needs more ciphertext. (An answer OpenSSL queued meanwhile goes out with the next write.)
  s_.async_read_some(asio::buffer(tls_->in),
                     [this, b, h = std::move(h)](error_code ec, std::size_t n) mutable {
                       tls_->ch->feed(tls_->in.data(), n);
                       if (ec) return std::move(h)(ec, 0);
                       tls_read(b, std::move(h), false);
                     });
}

void conn_stream::tls_write(std::size_t n, rw_handler h) {
  if (n == 0 || !tls_->ch->write(tls_staging(), n)) {
    auto ec = n == 0 ? error_code() : tls_error();
    asio::post(s_.get_executor(), [h = std::move(h), ec]() mutable { std::move(h)(ec, 0); });
    return;
  }
  send_output([n, h = std::move(h)](error_code ec) mutable { std::move(h)(ec, ec ? 0 : n); });
}

}  // namespace parley
