// A small blocking client for tests and tools: WebSocket (/v1/ws) with Parley's framing
// and HTTP requests. Every wait has a timeout and throws std::runtime_error on expiry or
// on a closed connection. Not thread-safe; one client per thread.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace parley::test {

using namespace std::chrono_literals;

struct http_reply {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  boost::json::value json() const;
  // The value of a header ("" if absent).
  std::string header(const std::string& lowercase_name) const;
};

// One HTTP/1.1 request to 127.0.0.1:port (connection closed afterwards).
http_reply http(std::uint16_t port, const std::string& method, const std::string& target,
                const std::string& body = {}, const std::string& token = {});
// The same with extra request headers; the body is sent as it is (no Content-Type).
http_reply http_raw(std::uint16_t port, const std::string& method, const std::string& target,
                    const std::string& body, const std::string& token,
                    const std::vector<std::pair<std::string, std::string>>& headers);

class ws_client {
 public:
  // Connects to ws://127.0.0.1:port/v1/ws, sending "Authorization: Bearer token" if given.
  // With `deflate`, offers permessage-deflate and compresses what it sends if agreed.
  explicit ws_client(std::uint16_t port, const std::string& token = {}, bool deflate = false);
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  // Sends a request with a fresh id and returns its reply frame ({"id","result"|"error"});
  // pushed frames read meanwhile are kept for next_push().
  boost::json::object request(boost::json::object req, std::chrono::milliseconds timeout = 10s);
  // request() and expect a result; throws with the error text otherwise.
  boost::json::object call(boost::json::object req, std::chrono::milliseconds timeout = 10s);
  // Sends a request without waiting; returns its id.
  std::int64_t send_request(boost::json::object req);
  // Next pushed frame ({"ev"} or {"notice"}), or nullopt on timeout.
  std::optional<boost::json::object> next_push(std::chrono::milliseconds timeout = 5s);
  // Next frame of any kind, or nullopt on timeout.
  std::optional<boost::json::object> next_frame(std::chrono::milliseconds timeout);
  // Collects pushed events until `n` have arrived (throws on timeout).
  std::vector<boost::json::object> events(std::size_t n, std::chrono::milliseconds timeout = 10s);
  // Presence, receipts and typing notices are skipped by next_push() and events() unless
  // kept (most tests are about events and other notices).
  void keep_state_notices(bool keep = true);
  void send_text(const std::string& text);
  void send_binary(const std::string& data);
  // Sends a text message and at once ends the TCP stream (shutdown of the sending side,
  // no close frame), so the server may find the data and the end of stream together.
  void send_text_then_hang_up(const std::string& text);
  // Waits for the server to close; returns the close code (0 if the TCP connection ended
  // without a close frame).
  int wait_closed(std::chrono::milliseconds timeout = 10s);
  bool is_open() const;
  // The Sec-WebSocket-Extensions the server's 101 response agreed on ("" if none).
  std::string extensions() const;
  void close();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::test
