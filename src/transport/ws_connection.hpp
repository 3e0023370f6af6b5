// Private to src/transport: the WebSocket transport of a session (Beast). Frames queued
// for a connection are written in batches, one WebSocket message per batch, the frames
// separated by '\n' (docs/protocol.md, "Framing"), straight from the shared event
// buffers without copying them.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/model.hpp"
#include "server/context.hpp"
#include "server/frame_sink.hpp"

namespace parley {

// Every open WebSocket connection, for closing them all at shutdown.
class ws_registry {
 public:
  using closer = std::function<void(std::uint16_t, const std::string&)>;
  std::uint64_t add(closer c);
  void remove(std::uint64_t id);
  void close_all(std::uint16_t code, const std::string& reason);
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::uint64_t next_ = 1;                         // guarded by mu_
  std::unordered_map<std::uint64_t, closer> all_;  // guarded by mu_
};

// Takes over an HTTP connection whose request is a WebSocket upgrade to /v1/ws.
void start_websocket(server_context& ctx, ws_registry& reg, boost::beast::tcp_stream stream,
                     boost::beast::http::request<boost::beast::http::string_body> req,
                     std::optional<device_session> auth);

}  // namespace parley
