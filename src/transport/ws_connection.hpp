// Private to src/transport: the WebSocket transport of a session. Beast builds (and
// validates) the upgrade response; after it, a connection is the bare socket descriptor
// and speaks RFC 6455 framing itself, so that an idle connection costs one small object
// (the connection and its session in one allocation) and nothing else:
// - no asio socket state and no pending operation: each I/O thread keeps an edge-triggered
//   epoll set of its connections, and asio watches only that set's descriptor;
// - no buffers: reads drain the socket into a per-thread scratch buffer; a partial frame or
//   message gets a heap state only until it is complete, and the outbound queue exists only
//   while frames are queued or being written;
// - no timer: the handshake, heartbeat and closing timeouts are intrusive deadline lists
//   per I/O thread, served by one timer.
//
// Frames queued for a connection are written in batches, one WebSocket message per
// batch, the frames separated by '\n' (docs/protocol.md, "Framing"); a lone frame goes
// out straight from its shared buffer.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model.hpp"
#include "server/connection_limits.hpp"
#include "server/context.hpp"
#include "server/frame_sink.hpp"

namespace parley {

// The socket type of every connection: bound to its io_context's executor (8 bytes
// instead of any_io_executor's 56, in the socket and in every operation).
using ws_socket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// Every open WebSocket connection, for closing them all at shutdown. The connections
// themselves are listed per io_context (on its thread); this only counts them and knows
// the contexts.
class ws_registry {
 public:
  explicit ws_registry(std::vector<boost::asio::io_context*> ios) : ios_(std::move(ios)) {}
  // Asks every connection to close (asynchronously, on its own thread).
  void close_all(std::uint16_t code, const std::string& reason);
  // Connections started and not yet finished.
  std::size_t size() const { return count_.load(std::memory_order_relaxed); }

  void added() { count_.fetch_add(1, std::memory_order_relaxed); }
  void removed() { count_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  const std::vector<boost::asio::io_context*> ios_;
  std::atomic<std::size_t> count_{0};
};

class tls_channel;

// Takes over an HTTP connection whose request is a WebSocket upgrade to /v1/ws. `tls` is
// the connection's TLS state (null: plain TCP); the connection then reads and writes
// through it. `early` holds bytes the client sent after the request that the HTTP reader
// already buffered. `ticket` is the connection's place in the per-address and per-user
// counts. `client` is the client's address when a trusted proxy forwarded the connection
// ("": the socket's peer is the client).
void start_websocket(server_context& ctx, ws_registry& reg, ws_socket sock,
                     std::unique_ptr<tls_channel> tls,
                     boost::beast::http::request<boost::beast::http::string_body> req,
                     std::optional<device_session> auth, std::string early,
                     std::unique_ptr<connection_limits::ticket> ticket, std::string client);

}  // namespace parley
