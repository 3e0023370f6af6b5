#include "format.hpp"

#include <poll.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <ctime>

namespace parley::cli {

namespace json = boost::json;

namespace {

void append_hex(std::string& out, const char* prefix, std::uint32_t v, int digits) {
  static const char* hex = "0123456789abcdef";
  out += prefix;
  for (int i = digits - 1; i >= 0; --i) out += hex[(v >> (4 * i)) & 0xf];
}

// Length of the UTF-8 sequence starting at s[i] and its code point; 0 if invalid.
std::size_t decode_utf8(std::string_view s, std::size_t i, std::uint32_t& cp) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  std::size_t n;
  std::uint32_t min;
  if (c < 0x80) {
    cp = c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    n = 2, cp = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, cp = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

bool invisible_format(std::uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) ||                    // C1 controls
         cp == 0x200e || cp == 0x200f || cp == 0x061c ||  // direction marks
         (cp >= 0x202a && cp <= 0x202e) ||                // embeddings, overrides
         (cp >= 0x2066 && cp <= 0x2069) ||                // isolates
         cp == 0x2028 || cp == 0x2029;                    // line, paragraph separators
}

const json::object* obj(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

}  // namespace

std::string json_str(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t json_int(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

std::string escape_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    auto n = decode_utf8(s, i, cp);
    if (n == 0) {
      append_hex(out, "\\x", static_cast<unsigned char>(s[i]), 2);
      ++i;
      continue;
    }
    if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\\') {
      out += "\\\\";
    } else if (cp < 0x20 || cp == 0x7f) {
      append_hex(out, "\\x", cp, 2);
    } else if (invisible_format(cp)) {
      append_hex(out, "\\u", cp, 4);
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : escape_text(s)) {
    if (c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string format_time(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

sdk::event event_from_json(const json::object& o) {
  sdk::event e;
  e.conv = json_int(o, "conv");
  e.seq = json_int(o, "seq");
  e.id = json_str(o, "id");
  e.ts = json_int(o, "ts");
  e.type = json_str(o, "type");
  e.sender = json_int(o, "sender");
  e.client_msg_id = json_str(o, "client_msg_id");
  if (auto* d = o.if_contains("data")) {
    e.data_json = json::serialize(*d);
    if (d->is_object()) e.text = json_str(d->as_object(), "text");
  }
  return e;
}

json::object event_to_json(const sdk::event& e) {
  json::object o{{"conv", e.conv}, {"seq", e.seq},   {"id", e.id},
                 {"ts", e.ts},     {"type", e.type}, {"sender", e.sender}};
  if (!e.client_msg_id.empty()) o["client_msg_id"] = e.client_msg_id;
  boost::system::error_code ec;
  auto d = e.data_json.empty() ? json::value(json::object()) : json::parse(e.data_json, ec);
  o["data"] = ec ? json::value(json::object()) : std::move(d);
  return o;
}

void names::learn(std::int64_t id, std::string_view handle) {
  if (id != 0 && !handle.empty()) names_[id] = std::string(handle);
}

void names::learn_conversation(const json::object& conv) {
  auto* ms = conv.if_contains("members");
  if (!ms || !ms->is_array()) return;
  for (const auto& m : ms->as_array())
    if (m.is_object()) learn(json_int(m.as_object(), "id"), json_str(m.as_object(), "handle"));
}

void names::learn_event(const sdk::event& e) {
  boost::system::error_code ec;
  auto d = json::parse(e.data_json, ec);
  if (ec || !d.is_object()) return;
  learn_conversation(d.as_object());  // conversation.created
  if (auto* u = obj(d.as_object(), "user")) learn(json_int(*u, "id"), json_str(*u, "handle"));
}

std::string names::name(std::int64_t id) const {
  auto it = names_.find(id);
  return it == names_.end() ? "user#" + std::to_string(id) : escape_text(it->second);
}

std::string render_attachments(const std::vector<sdk::attachment>& atts) {
  std::string out;
  for (const auto& a : atts) {
    out += " [file " + quoted(a.name) + " " + escape_text(a.type) + " " + std::to_string(a.size) +
           " bytes";
    if (a.width > 0) out += " " + std::to_string(a.width) + "x" + std::to_string(a.height);
    out += " id:" + escape_text(a.id) + "]";
  }
  return out;
}

std::vector<sdk::attachment> attachments_from_json(const json::value* v) {
  std::vector<sdk::attachment> out;
  if (!v || !v->is_array()) return out;
  for (const auto& x : v->as_array()) {
    if (!x.is_object()) continue;
    const auto& o = x.as_object();
    sdk::attachment a;
    a.id = json_str(o, "id");
    a.name = json_str(o, "name");
    a.type = json_str(o, "type");
    a.size = json_int(o, "size");
    a.width = static_cast<int>(json_int(o, "width"));
    a.height = static_cast<int>(json_int(o, "height"));
    out.push_back(std::move(a));
  }
  return out;
}

std::string render_event(const sdk::event& e, const names& n) {
  std::string head =
      format_time(e.ts) + " #" + std::to_string(e.conv) + ":" + std::to_string(e.seq) + " ";
  std::string who = n.name(e.sender);
  if (e.type == "message.created")
    return head + who + ": " + escape_text(e.text) + render_attachments(e.attachments);

  boost::system::error_code ec;
  auto dv = json::parse(e.data_json, ec);
  json::object d = !ec && dv.is_object() ? std::move(dv.as_object()) : json::object();
  std::string target, role = escape_text(json_str(d, "role"));
  std::int64_t target_id = 0;
  if (auto* u = obj(d, "user")) target_id = json_int(*u, "id"), target = n.name(target_id);
  std::string what;
  if (e.type == "conversation.created") {
    std::string members;
    if (auto* ms = d.if_contains("members"); ms && ms->is_array())
      for (const auto& m : ms->as_array())
        if (m.is_object() && json_int(m.as_object(), "id") != e.sender)
          members += (members.empty() ? "" : ", ") + n.name(json_int(m.as_object(), "id"));
    if (json_str(d, "kind") == "direct") {
      what = "started a direct conversation with " + members;
    } else {
      what = "created the group " + quoted(json_str(d, "title"));
      if (!members.empty()) what += " with " + members;
    }
  } else if (e.type == "conversation.updated") {
    what = "renamed the group to " + quoted(json_str(d, "title"));
  } else if (e.type == "member.joined") {
    what = "added " + target + (role == "member" || role.empty() ? "" : " as " + role);
  } else if (e.type == "member.left") {
    what = json_int(d, "by") == target_id ? "left" : "removed " + target;
  } else if (e.type == "member.updated") {
    what = "made " + target + " " + role;
  } else {
    what = "[" + escape_text(e.type) + "]";
  }
  return head + "* " + who + " " + what;
}

bool stdout_closed() {
  pollfd p{STDOUT_FILENO, 0, 0};  // a pipe reports POLLERR once its reader closed it
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
}

void print_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) throw output_closed{};
}

void print_json(const json::object& o) {
  print_line(json::serialize(o));
}

}  // namespace parley::cli
