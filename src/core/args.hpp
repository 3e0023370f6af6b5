// Typed access to the fields of a request's JSON object, producing errc::invalid errors
// that name the field.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "core/error.hpp"

namespace parley::args {

result<std::string> str(const boost::json::object& a, std::string_view key);
result<std::optional<std::string>> opt_str(const boost::json::object& a, std::string_view key);
result<std::int64_t> i64(const boost::json::object& a, std::string_view key);
result<std::optional<std::int64_t>> opt_i64(const boost::json::object& a, std::string_view key);

}  // namespace parley::args
