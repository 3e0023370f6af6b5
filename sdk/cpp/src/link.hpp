// Private to the SDK: one connection to the server over one transport (WebSocket,
// Server-Sent Events or long polling; docs/protocol.md). A link starts delivery from the
// positions it is given, hands every received message (frames separated by '\n': replies
// and pushes alike) to the client, carries request frames, and says when delivery is
// under way (synced) and when it ended (closed). The client keeps everything else
// (outbox, inbox order, positions), so switching links loses and repeats nothing.
//
// Contract: every member function and every callback runs on the client's io_context
// thread. After closed() or close(), no callback runs again.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "parley/sdk/client.hpp"

namespace parley::sdk::detail {

struct link_closed {
  std::string why;
  int code = 0;          // the close code (WebSocket or SSE close event) or HTTP status
  bool auth = false;     // the token was rejected (401) or revoked (4003)
  bool reached = false;  // the TCP connection was made: the transport failed, not the
                         // network (a server that is down refuses the connection)
  bool synced = false;   // delivery had started on this link
};

struct link_events {
  std::function<void(std::string_view)> message;
  std::function<void()> synced;
  std::function<void(link_closed)> closed;
};

class link {
 public:
  virtual ~link() = default;
  // Connects and starts delivery: from `since` (conversation id -> last seq; conversations
  // missing from it from the user's join), or from now on without it.
  virtual void start(std::optional<boost::json::object> since) = 0;
  // Sends a request frame; its reply arrives through message().
  virtual void request(std::string frame) = 0;
  // Ends the link at once, without callbacks.
  virtual void close() = 0;
};

std::shared_ptr<link> make_ws_link(boost::asio::io_context& io, const client_options& opt,
                                   link_events ev);
std::shared_ptr<link> make_sse_link(boost::asio::io_context& io, const client_options& opt,
                                    link_events ev);
std::shared_ptr<link> make_poll_link(boost::asio::io_context& io, const client_options& opt,
                                     link_events ev);

// The cursor of docs/protocol.md for `since` ("all" when it is empty, "" without it).
std::string cursor_of(const std::optional<boost::json::object>& since);

}  // namespace parley::sdk::detail
