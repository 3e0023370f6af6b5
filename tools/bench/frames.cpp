#include "frames.hpp"

#include <boost/json/object.hpp>
#include <charconv>
#include <string>

namespace bench {
namespace {

bool lit(std::string_view s, std::size_t& p, std::string_view l) {
  if (s.compare(p, l.size(), l) != 0) return false;
  p += l.size();
  return true;
}

bool num(std::string_view s, std::size_t& p, std::int64_t& out) {
  auto [ptr, ec] = std::from_chars(s.data() + p, s.data() + s.size(), out);
  if (ec != std::errc()) return false;
  p = static_cast<std::size_t>(ptr - s.data());
  return true;
}

// A JSON string without escapes, after its opening quote.
bool plain_str(std::string_view s, std::size_t& p, std::string_view& out) {
  auto q = s.find('"', p);
  if (q == std::string_view::npos) return false;
  out = s.substr(p, q - p);
  if (out.find('\\') != std::string_view::npos) return false;
  p = q + 1;
  return true;
}

}  // namespace

bool fast_event(std::string_view f, ev_view& e) {
  std::size_t p = 0;
  std::string_view id;
  if (!lit(f, p, R"({"ev":{"conv":)") || !num(f, p, e.conv) || !lit(f, p, R"(,"seq":)") ||
      !num(f, p, e.seq) || !lit(f, p, R"(,"id":")") || !plain_str(f, p, id) ||
      !lit(f, p, R"(,"ts":)") || !num(f, p, e.ts) || !lit(f, p, R"(,"type":")") ||
      !plain_str(f, p, e.type) || !lit(f, p, R"(,"sender":)") || !num(f, p, e.sender))
    return false;
  e.cmid = {};
  if (lit(f, p, R"(,"client_msg_id":")") && !plain_str(f, p, e.cmid)) return false;
  if (!lit(f, p, R"(,"data":)")) return false;
  e.sent_ns = -1;
  if (e.type == "message.created") {
    if (!lit(f, p, R"({"text":")")) return false;
    std::int64_t t = 0;
    if (num(f, p, t)) e.sent_ns = t;
  }
  return f.size() >= 2 && f.substr(f.size() - 2) == "}}";
}

bool json_event(const boost::json::value& v, ev_view& e) {
  if (!v.is_object()) return false;
  const auto& o = v.get_object();
  auto i64 = [&](const char* k, std::int64_t& out) {
    auto* x = o.if_contains(k);
    if (!x || !x->is_int64()) return false;
    out = x->get_int64();
    return true;
  };
  if (!i64("conv", e.conv) || !i64("seq", e.seq) || !i64("sender", e.sender)) return false;
  i64("ts", e.ts);
  auto* t = o.if_contains("type");
  if (!t || !t->is_string()) return false;
  e.type = t->get_string();
  e.cmid = {};
  if (auto* c = o.if_contains("client_msg_id"); c && c->is_string()) e.cmid = c->get_string();
  e.sent_ns = -1;
  if (auto* d = o.if_contains("data"); d && d->is_object())
    if (auto* tx = d->get_object().if_contains("text"); tx && tx->is_string()) {
      std::string_view s = tx->get_string();
      std::int64_t ns = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), ns);
      if (ec == std::errc() && ptr != s.data()) e.sent_ns = ns;
    }
  return true;
}

bool parse_cmid(std::string_view cmid, std::string_view tag, std::int64_t& s, std::int64_t& n) {
  if (cmid.size() <= tag.size() + 1 || cmid.compare(0, tag.size(), tag) != 0 ||
      cmid[tag.size()] != '-')
    return false;
  std::size_t p = tag.size() + 1;
  return num(cmid, p, s) && lit(cmid, p, "-") && num(cmid, p, n) && p == cmid.size() && s >= 0 &&
         n >= 0;
}

}  // namespace bench
