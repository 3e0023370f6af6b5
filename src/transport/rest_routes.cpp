#include "transport/rest_routes.hpp"

#include <algorithm>
#include <functional>
#include <vector>

namespace parley {

namespace {

struct route {
  const char* method;
  const char* pattern;  // segments; "{name}" captures a path parameter
  const char* op;
  bool body;
};

constexpr route kRoutes[] = {
    {"POST", "/v1/register", "register", true},
    {"POST", "/v1/login", "login", true},
    {"POST", "/v1/logout", "logout", false},
    {"POST", "/v1/password", "password", true},
    {"POST", "/v1/token/refresh", "token.refresh", false},
    {"GET", "/v1/conversations", "conv.list", false},
    {"POST", "/v1/conversations", "conv.create", true},
    {"GET", "/v1/conversations/{conv}", "conv.get", false},
    {"PATCH", "/v1/conversations/{conv}", "conv.update", true},
    {"POST", "/v1/conversations/{conv}/members", "members.add", true},
    {"PATCH", "/v1/conversations/{conv}/members/{user}", "members.set_role", true},
    {"DELETE", "/v1/conversations/{conv}/members/{user}", "members.remove", false},
    {"POST", "/v1/conversations/{conv}/messages", "send", true},
    {"GET", "/v1/conversations/{conv}/events", "history", false},
    {"GET", "/v1/conversations/{conv}/messages", "messages", false},
    {"PATCH", "/v1/conversations/{conv}/messages/{msg}", "edit", true},
    {"DELETE", "/v1/conversations/{conv}/messages/{msg}", "delete", false},
    {"GET", "/v1/conversations/{conv}/messages/{msg}/edits", "edits", false},
    {"PUT", "/v1/conversations/{conv}/messages/{msg}/reactions/{emoji}", "react", false},
    {"DELETE", "/v1/conversations/{conv}/messages/{msg}/reactions/{emoji}", "unreact", false},
    {"GET", "/v1/conversations/{conv}/threads/{thread}", "thread", false},
    {"PUT", "/v1/conversations/{conv}/threads/{thread}/follow", "follow", false},
    {"DELETE", "/v1/conversations/{conv}/threads/{thread}/follow", "unfollow", false},
    {"POST", "/v1/conversations/{conv}/read", "read", true},
    {"GET", "/v1/threads", "threads", false},
    {"GET", "/v1/search", "search", false},
    {"POST", "/v1/ack", "ack", true},
    {"GET", "/v1/conversations/{conv}/receipts", "receipts", false},
    {"POST", "/v1/conversations/{conv}/typing", "typing", true},
    {"GET", "/v1/presence", "presence.get", false},
    {"GET", "/v1/settings", "settings", false},
    {"PATCH", "/v1/settings", "settings", true},
};

std::vector<std::string_view> split_path(std::string_view p) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '/') {
      ++i;
      continue;
    }
    auto j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    out.push_back(p.substr(i, j - i));
    i = j;
  }
  return out;
}

bool hexval(char c, int& v) {
  if (c >= '0' && c <= '9')
    v = c - '0';
  else if (c >= 'a' && c <= 'f')
    v = c - 'a' + 10;
  else if (c >= 'A' && c <= 'F')
    v = c - 'A' + 10;
  else
    return false;
  return true;
}

}  // namespace

void for_each_query_param(std::string_view qs,
                          const std::function<void(std::string, std::string, bool)>& fn) {
  std::size_t i = 0;
  while (i <= qs.size()) {
    auto j = qs.find('&', i);
    if (j == std::string_view::npos) j = qs.size();
    auto kv = qs.substr(i, j - i);
    if (!kv.empty()) {
      auto eq = kv.find('=');
      std::string k, v;
      bool ok = url_decode(kv.substr(0, eq), k) &&
                (eq == std::string_view::npos || url_decode(kv.substr(eq + 1), v));
      fn(std::move(k), std::move(v), ok);
    }
    i = j + 1;
  }
}

std::string query_value(std::string_view target, std::string_view key) {
  auto q = target.find('?');
  std::string out;
  if (q != std::string_view::npos)
    for_each_query_param(target.substr(q + 1), [&](std::string k, std::string v, bool ok) {
      if (ok && k == key && out.empty()) out = std::move(v);
    });
  return out;
}

bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      int hi, lo;
      if (i + 2 >= in.size() || !hexval(in[i + 1], hi) || !hexval(in[i + 2], lo)) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

route_status match_route(std::string_view method, std::string_view target, route_match& out) {
  auto q = target.find('?');
  auto path = target.substr(0, q);
  auto segs = split_path(path);
  bool path_matched = false;
  for (const auto& r : kRoutes) {
    auto pat = split_path(r.pattern);
    if (pat.size() != segs.size()) continue;
    boost::json::object args;
    bool ok = true;
    for (std::size_t i = 0; i < pat.size() && ok; ++i) {
      if (pat[i].front() == '{') {
        std::string v;
        ok = url_decode(segs[i], v) && !v.empty();
        args[pat[i].substr(1, pat[i].size() - 2)] = v;
      } else {
        ok = pat[i] == segs[i];
      }
    }
    if (!ok) continue;
    path_matched = true;
    if (method != r.method) continue;
    if (q != std::string_view::npos) {
      bool malformed = false;
      for_each_query_param(target.substr(q + 1), [&](std::string k, std::string v, bool ok) {
        if (!ok) malformed = true;
        if (ok && !args.contains(k)) args[k] = v;  // path parameters win
      });
      if (malformed) return route_status::not_found;
    }
    out.op = r.op;
    out.args = std::move(args);
    out.takes_body = r.body;
    return route_status::ok;
  }
  return path_matched ? route_status::method_not_allowed : route_status::not_found;
}

namespace {

bool parse_u64(std::string_view s, std::uint64_t& v) {
  if (s.empty() || s.size() > 19) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

range_status parse_byte_range(std::string_view header, std::uint64_t size, std::uint64_t& first,
                              std::uint64_t& last) {
  header = trim(header);
  if (header.substr(0, 6) != "bytes=") return range_status::whole;
  auto spec = trim(header.substr(6));
  if (spec.find(',') != std::string_view::npos) return range_status::whole;
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return range_status::whole;
  auto a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
  std::uint64_t x = 0, y = 0;
  if (a.empty()) {  // the last y bytes
    if (!parse_u64(b, y)) return range_status::whole;
    if (y == 0 || size == 0) return range_status::unsatisfiable;
    first = y >= size ? 0 : size - y;
    last = size - 1;
    return range_status::partial;
  }
  if (!parse_u64(a, x)) return range_status::whole;
  if (b.empty()) {
    y = size == 0 ? 0 : size - 1;
  } else {
    if (!parse_u64(b, y) || y < x) return range_status::whole;
  }
  if (x >= size) return range_status::unsatisfiable;
  first = x;
  last = std::min(y, size - 1);
  return range_status::partial;
}

std::string content_disposition(bool inline_, std::string_view name) {
  std::string out = inline_ ? "inline" : "attachment";
  if (name.empty()) return out;
  std::string ascii, enc;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : name) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
    ascii += (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') ? static_cast<char>(c) : '_';
    if (plain) {
      enc += static_cast<char>(c);
    } else {
      enc += '%';
      enc += hex[c >> 4];
      enc += hex[c & 15];
    }
  }
  return out + "; filename=\"" + ascii + "\"; filename*=UTF-8''" + enc;
}

}  // namespace parley
