// The REST API's route table: maps an HTTP method and target to a service operation and
// its arguments (path parameters and query string; the JSON body is merged by the
// caller). Pure functions, no I/O; see docs/protocol.md ("REST").
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

namespace parley {

struct route_match {
  std::string op;
  boost::json::object args;  // from the path and the query string
  bool takes_body = false;
};

enum class route_status { ok, not_found, method_not_allowed };

route_status match_route(std::string_view method, std::string_view target, route_match& out);

// Percent-decodes a query string component ('+' is a space). Returns false if malformed.
bool url_decode(std::string_view in, std::string& out);

}  // namespace parley
