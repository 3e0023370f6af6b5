// The HTTP/1.1 front door: accepts TCP connections (round-robin over the I/O contexts),
// serves the REST API, /healthz and /metrics, and hands WebSocket upgrades of /v1/ws to
// the WebSocket transport. No Beast types in this header.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "server/context.hpp"

namespace parley {

class http_listener {
 public:
  // Binds and listens; throws std::runtime_error if the address is unavailable.
  http_listener(server_context& ctx, std::vector<boost::asio::io_context*> ios,
                const std::string& host, std::uint16_t port);
  ~http_listener();
  std::uint16_t port() const;
  void start();
  // Stops accepting new connections.
  void stop();
  // Sends a close frame to every WebSocket connection.
  void close_websockets(std::uint16_t code, const std::string& reason);
  std::size_t websocket_count() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley
