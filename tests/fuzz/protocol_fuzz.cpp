// libFuzzer target: a request frame (WebSocket text message, POST /v1/rpc body) read the way
// the server reads it, without a running server.
//
// session::on_frame cannot run without a service and a store behind it (its dispatch calls
// them), so this target runs the same steps on the same libraries: the frame is parsed
// by boost::json with the session's parse options (max_depth 32, a 4 KiB stack arena), the
// envelope is checked as on_frame checks it (an object, id a string of at most 64 bytes or
// an integer, op a string), and the remaining arguments go through core/args.hpp and the
// validators the operations apply (core/validate.hpp, core/paging.hpp, fts_query), with
// the default limits. The raw input also goes to every validator directly, so that they see
// bytes JSON escaping would not produce. Results are checked against what each function
// promises; a broken promise aborts (a finding, like a crash).
#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/args.hpp"
#include "core/paging.hpp"
#include "core/service.hpp"
#include "core/validate.hpp"

namespace {

using namespace parley;
namespace json = boost::json;

// service_options' defaults (core/service.hpp) and session.cpp's id limit.
constexpr std::size_t kMaxTextBytes = 16384, kMaxTitleBytes = 200, kMaxMentions = 50;
constexpr std::size_t kPageDefault = 50, kPageMax = 200, kMaxIdBytes = 64;

void expect(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "protocol_fuzz: broken promise: %s\n", what);
  std::abort();
}

bool is_handle_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

bool no_control(std::string_view s, bool multiline) {
  // Only the ASCII and C1 controls check_text refuses; s is valid UTF-8 here.
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7F) return false;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F)
      return false;  // U+0080..U+009F
  }
  return true;
}

// fts_query's output: quoted terms of word bytes (no quote inside), each maybe followed by
// '*', separated by one space; at most 16 terms.
bool fts_shape(std::string_view q) {
  std::size_t terms = 0, i = 0;
  while (i < q.size()) {
    if (terms > 0 && q[i++] != ' ') return false;
    if (i >= q.size() || q[i++] != '"') return false;
    auto close = q.find('"', i);
    if (close == std::string_view::npos || close == i) return false;
    for (auto c : q.substr(i, close - i))
      if (c == ' ' || c == '*') return false;
    i = close + 1;
    if (i < q.size() && q[i] == '*') ++i;
    ++terms;
  }
  return terms >= 1 && terms <= 16;
}

// Every validator an operation applies to a string argument.
void validate_string(std::string_view s) {
  const bool utf8 = valid_utf8(s);
  if (auto h = normalize_handle(s)) {
    expect(h->size() == s.size() && h->size() >= 3 && h->size() <= 32, "handle length");
    for (char c : *h) expect(is_handle_char(c), "handle characters");
    auto again = normalize_handle(*h);
    expect(again && *again == *h, "normalize_handle is idempotent");
  }
  if (auto p = check_password(s)) {
    expect(utf8 && s.size() >= 8 && s.size() <= 1024 && *p == s, "password");
  }
  for (bool multiline : {true, false}) {
    auto t = check_text(s, "text", 1, kMaxTextBytes, multiline);
    if (t) {
      expect(utf8 && *t == s && !s.empty() && s.size() <= kMaxTextBytes, "check_text");
      expect(no_control(s, multiline), "check_text lets no control character through");
    } else {
      expect(!t.err().field.empty(), "check_text names the field");
    }
  }
  if (auto t = check_text(s, "title", 0, kMaxTitleBytes, false)) {
    expect(s.size() <= kMaxTitleBytes && s.find('\n') == std::string_view::npos, "title");
  }
  if (auto f = check_file_name(s, "attachments")) {
    expect(utf8 && !f->empty() && f->size() <= 255, "file name length");
    expect(f->find('/') == std::string::npos && f->find('\\') == std::string::npos,
           "file name has no path separator");
    expect(*f != "." && *f != "..", "file name is not . or ..");
  }
  if (auto c = check_client_msg_id(s)) {
    expect(!c->empty() && c->size() <= 64, "client_msg_id length");
  }
  if (auto e = check_emoji(s)) {
    expect(utf8 && !e->empty() && e->size() <= 64, "emoji");
  }
  if (valid_upload_id(s)) expect(s.size() == 64, "upload id");
  auto mentions = parse_mentions(s, kMaxMentions);
  expect(mentions.size() <= kMaxMentions, "mentions limit");
  for (std::size_t i = 0; i < mentions.size(); ++i) {
    auto h = normalize_handle(mentions[i]);
    expect(h && *h == mentions[i], "a mention is a normalized handle");
    for (std::size_t j = 0; j < i; ++j) expect(mentions[j] != mentions[i], "mentions distinct");
  }
  if (auto q = check_text(s, "query", 1, 256, false)) {
    if (auto f = fts_query(*q)) expect(fts_shape(*f), "fts_query makes only quoted terms");
  }
  if (auto f = fts_query(s)) expect(fts_shape(*f), "fts_query makes only quoted terms");
}

// What the operations read from the arguments (core/service*.cpp, server/live_ops.cpp).
constexpr const char* kStringArgs[] = {
    "text",   "title", "handle", "password", "old",  "new",    "token",   "client_msg_id",
    "emoji",  "name",  "query",  "sender",   "peer", "user",   "role",    "kind",
    "cursor", "state", "id",     "q",        "op",   "status", "presence"};
constexpr const char* kIntArgs[] = {"conv",   "msg",   "thread", "reply_to", "limit",
                                    "before", "after", "seq",    "user",     "timeout_ms"};

void check_int_arg(const json::object& a, std::string_view key) {
  auto r = args::opt_i64(a, key);
  auto req = args::i64(a, key);
  const auto* v = a.if_contains(key);
  if (!r) {
    expect(!req && r.err().field == key, "opt_i64 names the field");
    return;
  }
  expect(!*r || (req && *req == **r), "i64 agrees with opt_i64");
  if (*r && v->is_string()) {
    // Integers in strings: the value must be the one the digits spell.
    const auto& s = v->get_string();
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    expect(ec == std::errc() && p == s.data() + s.size() && n == **r, "integer in a string");
  }
}

void check_args(const json::object& a) {
  for (const char* key : kStringArgs) {
    auto s = args::opt_str(a, key);
    auto req = args::str(a, key);
    if (s && *s) {
      expect(req && *req == **s, "str agrees with opt_str");
      validate_string(**s);
    }
  }
  for (const char* key : kIntArgs) check_int_arg(a, key);
  if (auto p = parse_page(a, kPageDefault, kPageMax)) {
    expect(p->limit >= 1 && p->limit <= kPageMax, "page limit");
    expect(!(p->before && p->after), "one cursor");
    if (p->before) expect(*p->before >= 1 && *p->before <= (std::int64_t{1} << 53), "before");
    if (p->after) expect(*p->after >= 0 && *p->after <= (std::int64_t{1} << 53), "after");
  }
  // conv.create's members: handles.
  if (const auto* m = a.if_contains("members"); m && m->is_array())
    for (const auto& h : m->get_array())
      if (h.is_string()) validate_string(h.get_string());
  // send's attachments: objects with an upload id and an optional name.
  if (const auto* at = a.if_contains("attachments"); at && at->is_array()) {
    for (const auto& item : at->get_array()) {
      if (!item.is_object()) continue;
      if (auto id = args::str(item.get_object(), "id")) (void)valid_upload_id(*id);
      if (auto name = args::opt_str(item.get_object(), "name"); name && *name)
        validate_string(**name);
    }
  }
}

// a == b, except that numbers with a fraction or exponent may differ in their last bits:
// Boost.JSON 1.81 parses them fast, not correctly rounded.
bool same(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) {
    double x = a.get_double(), y = b.get_double();
    return x == y || std::fabs(x - y) <= 1e-14 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &p = a.get_array(), &q = b.get_array();
    if (p.size() != q.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (!same(p[i], q[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const auto &p = a.get_object(), &q = b.get_object();
    if (p.size() != q.size()) return false;
    for (const auto& [k, v] : p) {
      const auto* w = q.if_contains(k);
      if (!w || !same(v, *w)) return false;
    }
    return true;
  }
  return a == b;
}

bool all_finite(const json::value& v) {
  if (v.is_double()) return std::isfinite(v.get_double());
  if (v.is_array()) return std::all_of(v.get_array().begin(), v.get_array().end(), all_finite);
  if (v.is_object())
    for (const auto& kv : v.get_object())
      if (!all_finite(kv.value())) return false;
  return true;
}

// POST /v1/rpc (transport/http_live.cpp) takes the same request shape, with an optional id
// it echoes serialized into its reply: a string of at most 64 characters or an integer,
// else the request is refused. Whatever it accepts must echo as JSON. (Before 3d07712 it
// took any id, and 1e999 came back as "Infinity": tests/fuzz/crashes/README.md.)
void rpc_envelope(const json::value& v) {
  if (!v.is_object()) return;
  const auto* idv = v.get_object().if_contains("id");
  if (!idv) return;
  if (!(idv->is_int64() || idv->is_uint64() ||
        (idv->is_string() && idv->get_string().size() <= kMaxIdBytes)))
    return;
  boost::system::error_code ec;
  auto again = json::parse(json::serialize(*idv), ec);
  expect(!ec && again == *idv, "the echoed rpc id is JSON");
}

// session::on_frame's envelope, on the same parser settings.
void on_frame(std::string_view text) {
  json::parse_options po;
  po.max_depth = 32;
  boost::system::error_code ec;
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  auto v = json::parse(json::string_view(text.data(), text.size()), ec, &mr, po);
  if (ec) {
    expect(!ec.message().empty(), "a parse error has a message");
    return;
  }
  // What was parsed serializes back to JSON that parses to the same value, except for
  // numbers beyond a double's range: Boost.JSON 1.81 parses them as infinity and writes that
  // as "Infinity", which is not JSON (so no such value may be echoed: see rpc_envelope).
  if (all_finite(v)) {
    auto again = json::parse(json::serialize(v), ec, {}, po);
    expect(!ec && same(again, v), "parse(serialize(v)) == v");
  }
  rpc_envelope(v);
  if (!v.is_object()) return;
  auto& obj = v.get_object();
  auto idv = obj.find("id");
  if (idv == obj.end() ||
      !(idv->value().is_string() || idv->value().is_int64() || idv->value().is_uint64()))
    return;
  if (idv->value().is_string() && idv->value().get_string().size() > kMaxIdBytes) return;
  // The id is echoed into the reply as serialized JSON: it must stay one JSON value.
  auto id_text = json::serialize(idv->value());
  {
    auto id_again = json::parse(id_text, ec);
    expect(!ec && id_again == idv->value(), "the echoed id is the id");
  }
  auto opv = obj.find("op");
  if (opv == obj.end() || !opv->value().is_string()) return;
  std::string op(opv->value().get_string());
  obj.erase(idv);
  obj.erase(obj.find("op"));
  check_args(obj);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  on_frame(in);
  validate_string(in);
  return 0;
}
