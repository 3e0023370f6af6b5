// The fallback transports over plain HTTP (docs/protocol.md, "Server-Sent Events and long
// polling"): GET /v1/sse streams the same frames as the WebSocket as Server-Sent Events,
// each with the resume position as its id; GET /v1/poll returns the frames after a cursor
// at once, or waits for the next up to a timeout; POST /v1/rpc takes one request in the
// WebSocket's request shape and answers in its reply shape. SSE and polling run the same
// session (server/session) as a WebSocket behind their own frame sinks: a transport only
// moves frames. Nothing is kept between requests: the cursor (or Last-Event-ID) is the
// whole state. Internal to the HTTP transport.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "transport/http_common.hpp"

namespace parley::http_live {

// Whether the request's path is /v1/sse, /v1/poll or /v1/rpc.
bool is_live_target(std::string_view target);

// Serves one request whose header `hp` was read (the body, if any, not yet). Returns
// whether the connection may serve another request.
boost::asio::awaitable<bool> serve(
    server_context& ctx, http_common::http_stream& stream, boost::beast::flat_buffer& buf,
    boost::beast::http::request_parser<boost::beast::http::empty_body>& hp);

}  // namespace parley::http_live
