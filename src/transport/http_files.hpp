// Uploads and downloads over HTTP (docs/protocol.md, "Attachments"): POST /v1/uploads
// streams the body to disk (hashing it as it arrives, never holding it in memory) and
// records it; GET and HEAD /v1/uploads/{id} serve an upload to whoever may see it, with
// single byte ranges. Internal to the HTTP transport.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "transport/http_common.hpp"

namespace parley::http_files {

// Whether the request's path is /v1/uploads or below it.
bool is_files_target(std::string_view target);

// Serves one request whose header `hp` was read from `stream` (the body, if any, not yet).
// `blocking` runs file syncs off the I/O thread. Returns whether the connection may serve
// another request.
boost::asio::awaitable<bool> serve(
    server_context& ctx, boost::asio::thread_pool& blocking, http_common::http_stream& stream,
    boost::beast::flat_buffer& buf,
    boost::beast::http::request_parser<boost::beast::http::empty_body>& hp);

}  // namespace parley::http_files
