// Operations on the server's in-memory live state rather than the store: typing and
// presence (docs/protocol.md, "Typing" and "Presence"). Shared by the WebSocket and REST
// transports, next to service::call.
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <string_view>

#include "core/service.hpp"
#include "server/context.hpp"

namespace parley {

// Runs `op` if it is a live operation (typing, presence, presence.get) and returns true;
// returns false, and does nothing, for any other op. `done` runs once, on any thread.
bool call_live_op(server_context& ctx, const caller& who, std::string_view op,
                  const boost::json::object& args, service::reply done);

// Whether a request shows that someone is at the device (everything but heartbeats,
// acknowledgements, sync and presence itself): it ends the device's idle time.
bool shows_activity(std::string_view op);

}  // namespace parley
