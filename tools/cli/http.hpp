// The one Beast file of parley-cli: a JSON request over HTTP/1.1, for the operations the
// SDK's client cannot do because it needs a token first (register, login) and for logout.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <string>

#include "config.hpp"
#include "core/error.hpp"

namespace parley::cli {

// Sends METHOD TARGET with a JSON body (and a bearer token unless empty). Returns the
// result object of a 200 reply, or the typed error of any other reply
// (docs/protocol.md, "REST"). Throws failure (unreachable) when the server cannot be
// reached or does not answer within `timeout`.
result<boost::json::object> http_json(const endpoint& server, const std::string& method,
                                      const std::string& target, const boost::json::object& body,
                                      const std::string& token, std::chrono::milliseconds timeout);

}  // namespace parley::cli
