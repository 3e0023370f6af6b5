#include "core/validate.hpp"

#include <cstdint>

namespace parley {

namespace {
bool is_handle_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

// Decodes one code point at s[i]; returns its length or 0 if malformed.
std::size_t decode(std::string_view s, std::size_t i, std::uint32_t& cp) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t min;
  if (b < 0x80) {
    cp = b;
    return 1;
  } else if ((b & 0xE0) == 0xC0) {
    n = 2, cp = b & 0x1F, min = 0x80;
  } else if ((b & 0xF0) == 0xE0) {
    n = 3, cp = b & 0x0F, min = 0x800;
  } else if ((b & 0xF8) == 0xF0) {
    n = 4, cp = b & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}
}  // namespace

bool valid_utf8(std::string_view s) {
  std::uint32_t cp;
  for (std::size_t i = 0; i < s.size();) {
    auto n = decode(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

result<std::string> normalize_handle(std::string_view s, std::string_view field) {
  std::string h(s);
  for (auto& c : h)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (h.size() < 3 || h.size() > 32)
    return make_error(errc::invalid, "a handle has 3 to 32 characters", std::string(field));
  for (char c : h)
    if (!is_handle_char(c))
      return make_error(errc::invalid, "a handle uses only a-z, 0-9, '_', '.' and '-'",
                        std::string(field));
  if (!((h[0] >= 'a' && h[0] <= 'z') || (h[0] >= '0' && h[0] <= '9')))
    return make_error(errc::invalid, "a handle starts with a letter or digit", std::string(field));
  return h;
}

result<std::string> check_password(std::string_view s) {
  if (s.size() < 8) return make_error(errc::invalid, "a password has at least 8 bytes", "password");
  if (s.size() > 1024)
    return make_error(errc::too_large, "a password has at most 1024 bytes", "password");
  if (!valid_utf8(s))
    return make_error(errc::invalid, "the password is not valid UTF-8", "password");
  return std::string(s);
}

result<std::string> check_text(std::string_view s, std::string_view field, std::size_t min_bytes,
                               std::size_t max_bytes, bool multiline) {
  std::string f(field);
  if (s.size() > max_bytes)
    return make_error(errc::too_large, f + " has more than " + std::to_string(max_bytes) + " bytes",
                      f);
  if (s.size() < min_bytes) return make_error(errc::invalid, f + " is empty", f);
  std::uint32_t cp;
  for (std::size_t i = 0; i < s.size();) {
    auto n = decode(s, i, cp);
    if (n == 0) return make_error(errc::invalid, f + " is not valid UTF-8", f);
    bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
    if (control && !(multiline && (cp == '\n' || cp == '\t')))
      return make_error(errc::invalid, f + " contains a control character", f);
    i += n;
  }
  return std::string(s);
}

result<std::string> check_client_msg_id(std::string_view s) {
  if (s.empty() || s.size() > 64)
    return make_error(errc::invalid, "client_msg_id has 1 to 64 characters", "client_msg_id");
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':';
    if (!ok)
      return make_error(errc::invalid,
                        "client_msg_id uses only A-Z, a-z, 0-9 and _ - . :", "client_msg_id");
  }
  return std::string(s);
}

}  // namespace parley
