#include "core/json_strict.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <set>
#include <string>
#include <vector>

namespace parley {

namespace {

namespace json = boost::json;
using ec_t = json::error_code;

// A basic_parser handler that only looks at keys: one set of the keys seen per open
// object, so a repeated key fails the parse.
struct key_checker {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::vector<std::set<std::string>> open;
  std::string key;
  bool duplicate = false;

  bool fail(ec_t& ec) {
    duplicate = true;
    ec = json::error::syntax;
    return false;
  }
  bool on_document_begin(ec_t&) { return true; }
  bool on_document_end(ec_t&) { return true; }
  bool on_object_begin(ec_t&) {
    open.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, ec_t&) {
    open.pop_back();
    return true;
  }
  bool on_array_begin(ec_t&) { return true; }
  bool on_array_end(std::size_t, ec_t&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, ec_t&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, ec_t& ec) {
    key.append(s.data(), s.size());
    bool fresh = open.back().insert(std::move(key)).second;
    key.clear();
    return fresh ? true : fail(ec);
  }
  bool on_string_part(json::string_view, std::size_t, ec_t&) { return true; }
  bool on_string(json::string_view, std::size_t, ec_t&) { return true; }
  bool on_number_part(json::string_view, ec_t&) { return true; }
  bool on_int64(std::int64_t, json::string_view, ec_t&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, ec_t&) { return true; }
  bool on_double(double, json::string_view, ec_t&) { return true; }
  bool on_bool(bool, ec_t&) { return true; }
  bool on_null(ec_t&) { return true; }
  bool on_comment_part(json::string_view, ec_t&) { return true; }
  bool on_comment(json::string_view, ec_t&) { return true; }
};

}  // namespace

result<json::object> parse_strict_object(std::string_view text) {
  json::parse_options opt;  // defaults: no comments, no trailing commas, depth 32
  json::basic_parser<key_checker> p(opt);
  ec_t ec;
  auto used = p.write_some(false, text.data(), text.size(), ec);
  if (p.handler().duplicate) return make_error(errc::invalid, "a key appears twice");
  if (ec || used != text.size()) return make_error(errc::invalid, "not valid JSON");
  auto v = json::parse(json::string_view(text.data(), text.size()), ec, {}, opt);
  if (ec) return make_error(errc::invalid, "not valid JSON");
  if (!v.is_object()) return make_error(errc::invalid, "not a JSON object");
  return std::move(v.as_object());
}

}  // namespace parley
