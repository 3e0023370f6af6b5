// TLS for the listener (docs/security.md, "TLS"), on OpenSSL directly: no Asio, no Beast.
//
// tls_context is the server's certificate, key and protocol settings, loaded and checked
// once at start. tls_channel is one connection's TLS state. It works in two phases:
// - the HTTP phase (handshake, requests, event streams) runs over memory buffers: the
//   caller reads ciphertext from the socket with Beast's timed stream and feed()s it, and
//   sends what take_output() returns (transport/conn_stream does this);
// - a WebSocket takes the channel over with attach(fd): from then on OpenSSL reads and
//   writes the non-blocking socket itself, and recv()/send() behave like their system
//   calls, so the WebSocket's edge-triggered loop keeps its shape.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <string>

#include "server/config.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace parley {

class tls_context {
 public:
  // Loads cfg.tls_cert_file and cfg.tls_key_file; throws std::runtime_error naming the
  // file and the problem (missing, unreadable, not PEM, key not the certificate's).
  explicit tls_context(const server_config& cfg);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  ssl_ctx_st* native() const { return ctx_; }

 private:
  ssl_ctx_st* ctx_ = nullptr;
};

class tls_channel {
 public:
  enum class status { done, want_read, closed, failed };

  explicit tls_channel(const tls_context& ctx);
  ~tls_channel();
  tls_channel(const tls_channel&) = delete;
  tls_channel& operator=(const tls_channel&) = delete;

  // ---- HTTP phase (memory buffers) ----

  // Hands ciphertext read from the peer to the channel.
  void feed(const void* data, std::size_t n);
  // Ciphertext waiting to be sent (handshake messages, records, alerts); clears it.
  bool has_output() const;
  void take_output(std::string& out);
  // Advances the server handshake: done, want_read (feed more), or failed.
  status handshake();
  // Decrypts into buf: > 0 bytes, or 0 with `st` set to want_read, closed (close_notify)
  // or failed.
  std::size_t read(void* buf, std::size_t n, status& st);
  // Encrypts all of data into the output (false: failed).
  bool write(const void* data, std::size_t n);

  // Why the handshake or a read failed (OpenSSL's reason, no key material), for logs.
  const std::string& failure() const { return failure_; }

  // ---- WebSocket phase (the socket) ----

  // Decrypts what the channel already holds into `early`, then binds the channel to the
  // non-blocking socket fd (which stays the caller's to close). False on failure.
  bool attach(int fd, std::string& early);
  // Like recv(2): > 0 plaintext bytes; 0 at the end of the stream (close_notify or the
  // TCP connection closed); -1 with errno EAGAIN when the socket has nothing more, EPROTO
  // on a TLS failure, or the socket's error.
  ssize_t recv(void* buf, std::size_t n);
  // Like sendmsg(2) on iov[0..cnt): plaintext bytes taken (at most one record), or -1
  // with errno EAGAIN (call again with the same bytes when the socket is writable) or an
  // error.
  ssize_t send(const iovec* iov, int cnt);
  // A read stopped because the socket could not take a TLS message it had to answer:
  // recv() should be called again once the socket is writable.
  bool read_wants_write() const { return read_wants_write_; }
  // Sends close_notify, if the socket takes it now.
  void shutdown();

 private:
  status fail(const char* what);

  ssl_st* ssl_ = nullptr;
  std::string failure_;
  bool read_wants_write_ = false;
};

}  // namespace parley
