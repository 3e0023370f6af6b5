#include "core/codec.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace parley {

std::string json_quote(std::string_view s) {
  return boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

std::string encode_event(const event& e) {
  std::string out;
  out.reserve(96 + e.data.size() + e.type.size() + e.id.size());
  out += "{\"conv\":";
  out += std::to_string(e.conv);
  out += ",\"seq\":";
  out += std::to_string(e.seq);
  out += ",\"id\":\"";
  out += e.id;  // hex, needs no escaping
  out += "\",\"ts\":";
  out += std::to_string(e.ts_ms);
  out += ",\"type\":";
  out += json_quote(e.type);
  out += ",\"sender\":";
  out += std::to_string(e.sender);
  if (!e.client_msg_id.empty()) {
    out += ",\"client_msg_id\":";
    out += json_quote(e.client_msg_id);
  }
  out += ",\"data\":";
  out += e.data;
  out += '}';
  return out;
}

std::string encode_event_frame(const event& e) {
  return "{\"ev\":" + encode_event(e) + "}";
}

std::string encode_event_array(const std::vector<event>& events) {
  std::string out = "[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) out += ',';
    out += encode_event(events[i]);
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

}  // namespace parley
