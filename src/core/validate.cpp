#include "core/validate.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

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

// Extended_Pictographic (Unicode 15) and the other emoji bases, as code point ranges.
constexpr std::uint32_t kPictographic[][2] = {
    {0x00A9, 0x00A9},   {0x00AE, 0x00AE},   {0x203C, 0x203C},   {0x2049, 0x2049},
    {0x2122, 0x2122},   {0x2139, 0x2139},   {0x2194, 0x2199},   {0x21A9, 0x21AA},
    {0x231A, 0x231B},   {0x2328, 0x2328},   {0x2388, 0x2388},   {0x23CF, 0x23CF},
    {0x23E9, 0x23F3},   {0x23F8, 0x23FA},   {0x24C2, 0x24C2},   {0x25AA, 0x25AB},
    {0x25B6, 0x25B6},   {0x25C0, 0x25C0},   {0x25FB, 0x25FE},   {0x2600, 0x2605},
    {0x2607, 0x2612},   {0x2614, 0x2685},   {0x2690, 0x2705},   {0x2708, 0x2712},
    {0x2714, 0x2714},   {0x2716, 0x2716},   {0x271D, 0x271D},   {0x2721, 0x2721},
    {0x2728, 0x2728},   {0x2733, 0x2734},   {0x2744, 0x2744},   {0x2747, 0x2747},
    {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},   {0x2757, 0x2757},
    {0x2763, 0x2767},   {0x2795, 0x2797},   {0x27A1, 0x27A1},   {0x27B0, 0x27B0},
    {0x27BF, 0x27BF},   {0x2934, 0x2935},   {0x2B05, 0x2B07},   {0x2B1B, 0x2B1C},
    {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x3030, 0x3030},   {0x303D, 0x303D},
    {0x3297, 0x3297},   {0x3299, 0x3299},   {0x1F000, 0x1F0FF}, {0x1F10D, 0x1F10F},
    {0x1F12F, 0x1F12F}, {0x1F16C, 0x1F171}, {0x1F17E, 0x1F17F}, {0x1F18E, 0x1F18E},
    {0x1F191, 0x1F19A}, {0x1F1AD, 0x1F1E5}, {0x1F201, 0x1F20F}, {0x1F21A, 0x1F21A},
    {0x1F22F, 0x1F22F}, {0x1F232, 0x1F23A}, {0x1F23C, 0x1F23F}, {0x1F249, 0x1F3FA},
    {0x1F400, 0x1F53D}, {0x1F546, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F774, 0x1F77F},
    {0x1F7D5, 0x1F7FF}, {0x1F80C, 0x1F80F}, {0x1F848, 0x1F84F}, {0x1F85A, 0x1F85F},
    {0x1F888, 0x1F88F}, {0x1F8AE, 0x1F8FF}, {0x1F90C, 0x1F93A}, {0x1F93C, 0x1F945},
    {0x1F947, 0x1FAFF}, {0x1FC00, 0x1FFFD},
};

bool pictographic(std::uint32_t cp) {
  for (const auto& r : kPictographic)
    if (cp >= r[0] && cp <= r[1]) return true;
  return false;
}
bool regional_indicator(std::uint32_t cp) {
  return cp >= 0x1F1E6 && cp <= 0x1F1FF;
}
bool skin_tone(std::uint32_t cp) {
  return cp >= 0x1F3FB && cp <= 0x1F3FF;
}
bool keycap_base(std::uint32_t cp) {
  return (cp >= '0' && cp <= '9') || cp == '#' || cp == '*';
}
bool tag_char(std::uint32_t cp) {
  return cp >= 0xE0020 && cp <= 0xE007E;
}
constexpr std::uint32_t kVs16 = 0xFE0F, kZwj = 0x200D, kKeycap = 0x20E3, kCancelTag = 0xE007F;

// Grammar (after decoding): flag = RI RI; keycap = [0-9#*] FE0F? 20E3;
// element = pictograph (FE0F | skin tone)? ; tagged = element tag+ cancel-tag;
// emoji = flag | keycap | tagged | element (ZWJ element)*.
bool emoji_sequence(const std::vector<std::uint32_t>& cps) {
  std::size_t n = cps.size(), i = 0;
  if (n == 0) return false;
  if (regional_indicator(cps[0])) return n == 2 && regional_indicator(cps[1]);
  if (keycap_base(cps[0])) {
    if (n == 2) return cps[1] == kKeycap;
    return n == 3 && cps[1] == kVs16 && cps[2] == kKeycap;
  }
  auto element = [&]() {
    if (i >= n || !pictographic(cps[i])) return false;
    ++i;
    if (i < n && (cps[i] == kVs16 || skin_tone(cps[i]))) ++i;
    return true;
  };
  if (!element()) return false;
  if (i < n && tag_char(cps[i])) {
    while (i < n && tag_char(cps[i])) ++i;
    return i + 1 == n && cps[i] == kCancelTag;
  }
  while (i < n) {
    if (cps[i] != kZwj) return false;
    ++i;
    if (!element()) return false;
  }
  return true;
}

}  // namespace

result<std::string> check_emoji(std::string_view s) {
  auto bad = [] {
    return make_error(errc::invalid,
                      "emoji must be one emoji (a single emoji character or sequence)", "emoji");
  };
  if (s.empty() || s.size() > 64) return bad();
  std::vector<std::uint32_t> cps;
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp;
    auto len = decode(s, i, cp);
    if (len == 0 || cps.size() == 16) return bad();
    cps.push_back(cp);
    i += len;
  }
  if (!emoji_sequence(cps)) return bad();
  return std::string(s);
}

std::vector<std::string> parse_mentions(std::string_view text, std::size_t limit) {
  std::vector<std::string> out;
  auto handle_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  };
  for (std::size_t i = 0; i < text.size() && out.size() < limit; ++i) {
    if (text[i] != '@' || (i > 0 && handle_char(text[i - 1]))) continue;
    std::size_t j = i + 1;
    while (j < text.size() && handle_char(text[j])) ++j;
    auto h = text.substr(i + 1, j - i - 1);
    while (!h.empty() && (h.back() == '.' || h.back() == '-')) h.remove_suffix(1);
    auto norm = normalize_handle(h);
    if (norm && std::find(out.begin(), out.end(), *norm) == out.end()) out.push_back(*norm);
    i = j - 1;
  }
  return out;
}

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

bool valid_upload_id(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

result<std::string> check_file_name(std::string_view s, std::string_view field) {
  auto v = check_text(s, field, 1, 255, false);
  if (!v) return v;
  std::string f(field);
  if (v->find('/') != std::string::npos || v->find('\\') != std::string::npos)
    return make_error(errc::invalid, f + " contains a path separator", f);
  if (*v == "." || *v == "..") return make_error(errc::invalid, f + " is not a file name", f);
  return v;
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
