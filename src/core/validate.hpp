// Input validation shared by every transport. Each function returns the normalized value
// or an errc::invalid / errc::too_large error naming the field.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace parley {

// Lowercases; 3-32 of [a-z0-9_.-], starting with a letter or digit.
result<std::string> normalize_handle(std::string_view s, std::string_view field = "handle");
result<std::string> check_password(std::string_view s);
// Valid UTF-8 without control characters except (when multiline) newline and tab;
// at most max_bytes bytes; at least min_bytes.
result<std::string> check_text(std::string_view s, std::string_view field, std::size_t min_bytes,
                               std::size_t max_bytes, bool multiline);
// 1-64 of [A-Za-z0-9_.:-].
result<std::string> check_client_msg_id(std::string_view s);
// True if s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace parley
