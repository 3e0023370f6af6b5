// search: full-text search over the messages the caller can see, newest first, with
// highlighted snippets and filters (conversation, sender, time). The user's words become
// an FTS5 query of quoted terms (implicit AND), so no input can inject query syntax.
#include <charconv>

#include "core/args.hpp"
#include "core/codec.hpp"
#include "core/service.hpp"
#include "core/service_access.hpp"
#include "core/validate.hpp"

namespace parley {

namespace {

constexpr std::size_t kMaxTerms = 16;
constexpr std::size_t kDefaultLimit = 20;
constexpr std::size_t kMaxLimit = 100;

bool word_byte(unsigned char c) {
  return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

// Words of the query (ASCII letters and digits, and every non-ASCII character) become
// quoted FTS5 terms; a word directly followed by '*' matches as a prefix.
result<std::string> fts_query(std::string_view q) {
  std::string out;
  std::size_t terms = 0;
  for (std::size_t i = 0; i < q.size();) {
    if (!word_byte(static_cast<unsigned char>(q[i]))) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < q.size() && word_byte(static_cast<unsigned char>(q[j]))) ++j;
    if (++terms > kMaxTerms)
      return make_error(errc::invalid, "at most " + std::to_string(kMaxTerms) + " words", "query");
    if (!out.empty()) out += ' ';
    out += '"';
    out.append(q.substr(i, j - i));  // only word bytes: no quote to escape
    out += '"';
    if (j < q.size() && q[j] == '*') {
      out += '*';
      ++j;
    }
    i = j;
  }
  if (out.empty())
    return make_error(errc::invalid, "the query has no words to search for", "query");
  return out;
}

namespace {

// "\x01hit\x02 rest" -> [{"text":"hit","hit":true},{"text":" rest"}]
void append_snippet(std::string& out, std::string_view s) {
  out += '[';
  bool first = true, hit = false;
  std::size_t start = 0;
  auto flush = [&](std::size_t end) {
    if (end <= start) return;
    if (!first) out += ',';
    first = false;
    out += "{\"text\":";
    append_json_quoted(out, s.substr(start, end - start));
    out += hit ? ",\"hit\":true}" : "}";
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x01' || s[i] == '\x02') {
      flush(i);
      hit = s[i] == '\x01';
      start = i + 1;
    }
  }
  flush(s.size());
  out += ']';
}

result<std::pair<std::int64_t, std::int64_t>> parse_cursor(std::string_view c) {
  auto bad = [] {
    return make_error(errc::invalid, "cursor is a value from a previous page", "cursor");
  };
  auto colon = c.find(':');
  if (colon == std::string_view::npos) return bad();
  std::int64_t ts = 0, id = 0;
  auto r1 = std::from_chars(c.data(), c.data() + colon, ts);
  auto r2 = std::from_chars(c.data() + colon + 1, c.data() + c.size(), id);
  if (r1.ec != std::errc() || r1.ptr != c.data() + colon || r2.ec != std::errc() ||
      r2.ptr != c.data() + c.size() || ts <= 0 || id <= 0)
    return bad();
  return std::make_pair(ts, id);
}

}  // namespace

void service::op_search(const device_session& me, const boost::json::object& a, reply done) {
  auto text = args::str(a, "query");
  if (!text) return done(text.err());
  auto checked = check_text(*text, "query", 1, 256, false);
  if (!checked) return done(checked.err());
  auto match = fts_query(*checked);
  if (!match) return done(match.err());
  search_query q;
  q.match = *match;
  auto conv = args::opt_i64(a, "conv");
  if (!conv) return done(conv.err());
  q.conv = conv->value_or(0);
  auto sender = args::opt_str(a, "sender");
  if (!sender) return done(sender.err());
  std::string sender_handle;
  if (*sender) {
    auto h = normalize_handle(**sender, "sender");
    if (!h) return done(h.err());
    sender_handle = *h;
  }
  for (auto [key, field] : {std::pair{"before", &q.before_ms}, std::pair{"after", &q.after_ms}}) {
    auto v = args::opt_i64(a, key);
    if (!v) return done(v.err());
    if (*v && **v < 1)
      return done(make_error(errc::invalid, std::string(key) + " is a time in ms", key));
    *field = v->value_or(0);
  }
  auto limit = args::opt_i64(a, "limit");
  if (!limit) return done(limit.err());
  auto n = limit->value_or(static_cast<std::int64_t>(kDefaultLimit));
  if (n < 1 || n > static_cast<std::int64_t>(kMaxLimit))
    return done(make_error(errc::invalid, "limit is 1 to " + std::to_string(kMaxLimit), "limit"));
  q.limit = static_cast<std::size_t>(n);
  auto cursor = args::opt_str(a, "cursor");
  if (!cursor) return done(cursor.err());
  if (*cursor) {
    auto c = parse_cursor(**cursor);
    if (!c) return done(c.err());
    q.cursor_ts = c->first;
    q.cursor_id = c->second;
  }
  store_.read(
      [me, q, sender_handle, done](read_txn& t) mutable {
        if (q.conv != 0) {
          if (auto m = require_reader(t, q.conv, me.u.id); !m) return done(m.err());
        }
        if (!sender_handle.empty()) {
          auto u = t.find_user_by_handle(sender_handle);
          if (!u) return done(make_error(errc::not_found, "no such user", "sender"));
          q.sender = u->u.id;
        }
        auto hits = t.search_messages(me.u.id, q);
        std::string out = "{\"results\":[";
        for (std::size_t i = 0; i < hits.size(); ++i) {
          const auto& h = hits[i];
          if (i) out += ',';
          out += "{\"conv\":" + std::to_string(h.conv) + ",\"seq\":" + std::to_string(h.seq) +
                 ",\"sender\":" + std::to_string(h.sender) + ",\"ts\":" + std::to_string(h.ts_ms);
          if (h.thread) out += ",\"thread\":" + std::to_string(*h.thread);
          out += ",\"snippet\":";
          append_snippet(out, h.snippet);
          out += '}';
        }
        out += "],\"cursor\":";
        if (hits.size() == q.limit)
          out += "\"" + std::to_string(hits.back().ts_ms) + ":" +
                 std::to_string(hits.back().row_id) + "\"";
        else
          out += "null";
        out += '}';
        done(std::move(out));
      },
      [done](const error& e) { done(e); });
}

}  // namespace parley
