#include "core/args.hpp"

namespace parley::args {

namespace {
error missing(std::string_view key) {
  return make_error(errc::invalid, std::string(key) + " is required", std::string(key));
}
error wrong(std::string_view key, const char* what) {
  return make_error(errc::invalid, std::string(key) + " must be " + what, std::string(key));
}
}  // namespace

result<std::optional<std::string>> opt_str(const boost::json::object& a, std::string_view key) {
  auto it = a.find(key);
  if (it == a.end() || it->value().is_null()) return std::optional<std::string>{};
  if (!it->value().is_string()) return wrong(key, "a string");
  return std::optional<std::string>(std::string(it->value().get_string()));
}

result<std::string> str(const boost::json::object& a, std::string_view key) {
  auto r = opt_str(a, key);
  if (!r) return r.err();
  if (!*r) return missing(key);
  return std::move(**r);
}

result<std::optional<std::int64_t>> opt_i64(const boost::json::object& a, std::string_view key) {
  auto it = a.find(key);
  if (it == a.end() || it->value().is_null()) return std::optional<std::int64_t>{};
  const auto& v = it->value();
  if (v.is_int64()) return std::optional<std::int64_t>(v.get_int64());
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return std::optional<std::int64_t>(static_cast<std::int64_t>(v.get_uint64()));
  // Integers in strings are accepted too (query strings and path segments arrive so).
  if (v.is_string()) {
    const auto& s = v.get_string();
    if (s.empty() || s.size() > 18) return wrong(key, "an integer");
    std::int64_t n = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c == '-' && i == 0 && s.size() > 1) continue;
      if (c < '0' || c > '9') return wrong(key, "an integer");
      n = n * 10 + (c - '0');
    }
    return std::optional<std::int64_t>(s[0] == '-' ? -n : n);
  }
  return wrong(key, "an integer");
}

result<std::int64_t> i64(const boost::json::object& a, std::string_view key) {
  auto r = opt_i64(a, key);
  if (!r) return r.err();
  if (!*r) return missing(key);
  return **r;
}

}  // namespace parley::args
