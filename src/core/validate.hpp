// Input validation shared by every transport. Each function returns the normalized value
// or an errc::invalid / errc::too_large error naming the field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace parley {

// Lowercases; 3-32 of [a-z0-9_.-], starting with a letter or digit.
result<std::string> normalize_handle(std::string_view s, std::string_view field = "handle");
result<std::string> check_password(std::string_view s);
// Valid UTF-8 without control characters except (when multiline) newline and tab;
// at most max_bytes bytes; at least min_bytes.
result<std::string> check_text(std::string_view s, std::string_view field, std::size_t min_bytes,
                               std::size_t max_bytes, bool multiline);
// A file name as an attachment carries it: 1-255 bytes of single-line text without '/'
// or '\\', and not "." or "..".
result<std::string> check_file_name(std::string_view s, std::string_view field);
// An upload id: a SHA-256 as 64 lowercase hex characters.
bool valid_upload_id(std::string_view s);
// 1-64 of [A-Za-z0-9_.:-].
result<std::string> check_client_msg_id(std::string_view s);
// One emoji (a single emoji grapheme: a pictograph with optional variation selector,
// skin tone, keycap, tag sequence, or several joined by ZWJ; or a regional-indicator
// flag pair): at most 16 code points and 64 bytes.
result<std::string> check_emoji(std::string_view s);
// The @handles in a text, normalized, distinct, in order of first appearance; a handle
// is '@' (not preceded by a handle character) followed by 3-32 handle characters, with
// trailing '.' and '-' left out. At most `limit`.
std::vector<std::string> parse_mentions(std::string_view text, std::size_t limit);
// True if s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace parley
