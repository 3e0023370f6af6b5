// The REST API's route table: maps an HTTP method and target to a service operation and
// its arguments (path parameters and query string; the JSON body is merged by the
// caller). Pure functions, no I/O; see docs/protocol.md ("REST").
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
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

// Calls fn(key, value, well_formed) for each parameter of a query string (the part after
// '?'), percent-decoded, in order.
void for_each_query_param(std::string_view query,
                          const std::function<void(std::string, std::string, bool)>& fn);

// The first well-formed value of `key` in the target's query string, or "".
std::string query_value(std::string_view target, std::string_view key);

// Percent-decodes a query string component ('+' is a space). Returns false if malformed.
bool url_decode(std::string_view in, std::string& out);

// A Range header of a download (RFC 9110): one range of bytes, "bytes=a-b", "bytes=a-" or
// "bytes=-n". Anything else (several ranges, other units, malformed) is ignored and the
// whole content served, as the RFC allows; a well-formed range that starts past the end
// is unsatisfiable (416).
enum class range_status { whole, partial, unsatisfiable };
range_status parse_byte_range(std::string_view header, std::uint64_t size, std::uint64_t& first,
                              std::uint64_t& last);

// A Content-Disposition value: `inline` or `attachment`, with the file name as an
// RFC 6266 filename* parameter (UTF-8, percent-encoded) and an ASCII fallback.
std::string content_disposition(bool inline_, std::string_view name);

}  // namespace parley
