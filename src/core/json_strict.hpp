// Strict JSON for untrusted, signed documents (signed token headers and payloads): the
// text must be one JSON object, with no duplicate key in it or in any nested object (two
// readers of the same bytes must not see different values), no comments, no trailing
// commas, at most 32 levels deep. Boost.JSON alone keeps the last of two equal keys.
#pragma once

#include <boost/json/object.hpp>
#include <string_view>

#include "core/error.hpp"

namespace parley {

// The object `text` holds, or errc::invalid saying why (never echoing the text).
result<boost::json::object> parse_strict_object(std::string_view text);

}  // namespace parley
