// The stream of one accepted HTTP connection (transport/http_common's http_stream): Beast's
// timed TCP stream, plain or with TLS, chosen once when the connection is accepted.
//
// A plain connection forwards every operation straight to the TCP stream: one well
// predicted branch per operation, no virtual call, no copy. A TLS connection reads and
// writes ciphertext through the same timed TCP stream (so every expires_after() applies to
// TLS as well) and runs OpenSSL on memory buffers (transport/tls); its operations are
// compiled once, in conn_stream.cpp, behind type-erased completion handlers, so that the
// templates Beast instantiates per handler stay as small as for a plain stream.
//
// Reads and writes are never concurrent (the HTTP transport does one at a time).
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <memory>

#include "transport/tls.hpp"

namespace parley {

class conn_stream {
 public:
  using error_code = boost::system::error_code;
  using executor_type = boost::asio::io_context::executor_type;
  // Bound to the io_context's executor, like the socket a WebSocket connection takes over.
  using next_layer_type = boost::beast::basic_stream<boost::asio::ip::tcp, executor_type>;
  using socket_type = next_layer_type::socket_type;

  explicit conn_stream(next_layer_type s);
  conn_stream(conn_stream&&) noexcept;
  ~conn_stream();

  executor_type get_executor() noexcept { return s_.get_executor(); }
  socket_type& socket() { return s_.socket(); }
  template <class Duration>
  void expires_after(Duration d) {
    s_.expires_after(d);
  }
  void expires_never() { s_.expires_never(); }
  // Takes the socket (and the TLS state, see release_tls()) away from the stream.
  socket_type release_socket() { return s_.release_socket(); }

  bool is_tls() const { return tls_ != nullptr; }
  // The connection's TLS state (null if plain), for a WebSocket taking the connection over.
  std::unique_ptr<tls_channel> release_tls();

  // Performs the server side of a TLS handshake under the stream's current deadline; after
  // it every read and write is encrypted. Completes with the error that ended it (the
  // channel's failure() says why, for a TLS failure).
  template <class Token>
  auto async_handshake(const tls_context& ctx, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code)>(
        [this, &ctx](auto h) { start_handshake(ctx, done_handler(std::move(h))); }, token);
  }
  // Why the TLS handshake failed (empty if it did not fail in TLS).
  std::string tls_failure() const;

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto h, const MutableBuffers& b) {
          if (!tls_) return s_.async_read_some(b, std::move(h));
          boost::asio::mutable_buffer first;
          for (auto it = boost::asio::buffer_sequence_begin(b);
               it != boost::asio::buffer_sequence_end(b); ++it) {
            first = *it;
            if (first.size() > 0) break;
          }
          tls_read(first, rw_handler(std::move(h)), true);
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto h, const ConstBuffers& b) {
          if (!tls_) return s_.async_write_some(b, std::move(h));
          // At most one record, gathered from the sequence, is encrypted per write.
          auto n = boost::asio::buffer_copy(boost::asio::buffer(tls_staging(), kStagingBytes), b);
          tls_write(n, rw_handler(std::move(h)));
        },
        token, buffers);
  }

 private:
  using rw_handler = boost::asio::any_completion_handler<void(error_code, std::size_t)>;
  using done_handler = boost::asio::any_completion_handler<void(error_code)>;
  struct tls_state;
  static constexpr std::size_t kStagingBytes = 16384;

  static char* tls_staging();  // per thread; encrypted before a write returns
  void start_handshake(const tls_context& ctx, done_handler h);
  void handshake_step(done_handler h);
  void tls_read(boost::asio::mutable_buffer b, rw_handler h, bool initiating);
  void tls_write(std::size_t n, rw_handler h);
  // Sends the channel's pending output, then calls next(ec).
  template <class F>
  void send_output(F next);

  next_layer_type s_;
  std::unique_ptr<tls_state> tls_;
};

}  // namespace parley
