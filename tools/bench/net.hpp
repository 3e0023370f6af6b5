// parley-bench networking: HTTP requests (Beast, in net.cpp alone, to keep compile times
// down) and a lean WebSocket client (ws_client.cpp). Asio-async with C++20 coroutines.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace bench {

namespace asio = boost::asio;

struct http_result {
  int status = 0;
  std::string body;
};

// One HTTP/1.1 request on a fresh TCP connection (closed afterwards). Throws
// boost::system::system_error on network errors.
asio::awaitable<http_result> http_request(std::string host, std::uint16_t port, std::string method,
                                          std::string target, std::string body,
                                          std::string token = {});

// A WebSocket client connection. All member functions must be called on the executor the
// stream was created with (one io_context thread per stream).
class ws_stream {
 public:
  explicit ws_stream(asio::any_io_executor ex);
  ~ws_stream();
  ws_stream(const ws_stream&) = delete;
  ws_stream& operator=(const ws_stream&) = delete;

  // Offer permessage-deflate in the next connect(); deflate() says whether it was agreed.
  void offer_deflate();
  bool deflate() const;
  // TCP connect (TCP_NODELAY) and WebSocket handshake to ws://host:port<target>. A
  // non-empty `source` binds the local end to that address first (port chosen by the kernel).
  // `headers`: more request header lines, each ending in "\r\n" (e.g. Authorization).
  asio::awaitable<void> connect(std::string host, std::uint16_t port, std::string target,
                                std::string source = {}, std::string headers = {});
  // Reads one WebSocket message. The view stays valid until the next read(). Throws
  // boost::system::system_error when the connection ends (see close_code()).
  asio::awaitable<std::string_view> read();
  // Queues one text message (one request frame) for writing; writes are serialized.
  void send(std::string msg);
  // Bytes queued and not yet written.
  std::size_t queued_bytes() const;
  // First write error, if any (empty if none).
  std::string write_error() const;
  // Close code received from the server (0 if none).
  int close_code() const;
  // Sends a close frame (1000) and waits for the server's close, up to timeout_ms.
  asio::awaitable<void> close(int timeout_ms);
  // Tears down the TCP connection immediately.
  void abort();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace bench
