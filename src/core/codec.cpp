#include "core/codec.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace parley {

namespace {
// True if s can go between quotes as it is (no quote, backslash or control character).
bool plain(std::string_view s) {
  for (unsigned char ch : s)
    if (ch < 0x20 || ch == '"' || ch == '\\') return false;
  return true;
}

void append_event(std::string& out, const event& e) {
  out += "{\"conv\":";
  out += std::to_string(e.conv);
  out += ",\"seq\":";
  out += std::to_string(e.seq);
  out += ",\"id\":\"";
  out += e.id;  // hex, needs no escaping
  out += "\",\"ts\":";
  out += std::to_string(e.ts_ms);
  out += ",\"type\":";
  append_json_quoted(out, e.type);
  out += ",\"sender\":";
  out += std::to_string(e.sender);
  if (!e.client_msg_id.empty()) {
    out += ",\"client_msg_id\":";
    append_json_quoted(out, e.client_msg_id);
  }
  out += ",\"data\":";
  out += e.data;
  out += '}';
}

std::size_t event_size_hint(const event& e) {
  return 120 + e.data.size() + e.type.size() + e.id.size() + e.client_msg_id.size();
}
}  // namespace

void append_json_quoted(std::string& out, std::string_view s) {
  if (plain(s)) {
    out += '"';
    out += s;
    out += '"';
  } else {
    out += boost::json::serialize(boost::json::string_view(s.data(), s.size()));
  }
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_quoted(out, s);
  return out;
}

std::string encode_event(const event& e) {
  std::string out;
  out.reserve(event_size_hint(e));
  append_event(out, e);
  return out;
}

std::string encode_event_frame(const event& e) {
  std::string out;
  out.reserve(event_size_hint(e) + 8);
  out += "{\"ev\":";
  append_event(out, e);
  out += '}';
  return out;
}

std::string encode_event_array(const std::vector<event>& events) {
  std::size_t n = 2;
  for (const auto& e : events) n += event_size_hint(e) + 1;
  std::string out;
  out.reserve(n);
  out += '[';
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) out += ',';
    append_event(out, events[i]);
  }
  out += ']';
  return out;
}

boost::json::object user_json(const user& u) {
  return {{"id", u.id}, {"handle", u.handle}};
}

boost::json::object member_json(const membership& m) {
  boost::json::object o{{"id", m.u.id},
                        {"handle", m.u.handle},
                        {"role", to_string(m.role)},
                        {"joined_seq", m.joined_seq}};
  if (m.left_seq) o["left_seq"] = *m.left_seq;
  return o;
}

boost::json::object conversation_json(const conversation& c, const membership& mine) {
  boost::json::object o{{"id", c.id},
                        {"kind", to_string(c.kind)},
                        {"title", c.title},
                        {"last_seq", c.last_seq},
                        {"first_seq", c.first_seq},
                        {"created_ms", c.created_ms},
                        {"role", to_string(mine.role)},
                        {"joined_seq", mine.joined_seq}};
  if (mine.left_seq) {
    o["left_seq"] = *mine.left_seq;
    o["last_seq"] = std::min(c.last_seq, *mine.left_seq);
  }
  return o;
}

void append_upload_json(std::string& out, const upload_info& u) {
  out += "{\"id\":";
  append_json_quoted(out, u.id);
  out += ",\"size\":" + std::to_string(u.size) + ",\"type\":";
  append_json_quoted(out, u.type);
  if (u.width > 0 && u.height > 0)
    out += ",\"width\":" + std::to_string(u.width) + ",\"height\":" + std::to_string(u.height);
  out += '}';
}

void append_attachments_json(std::string& out, const std::vector<attachment>& a) {
  out += '[';
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (i) out += ',';
    append_upload_json(out, a[i].upload);
    out.pop_back();  // the object goes on with the name
    out += ",\"name\":";
    append_json_quoted(out, a[i].name);
    out += '}';
  }
  out += ']';
}

}  // namespace parley
