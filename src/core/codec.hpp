// JSON encoding of Parley's domain objects for the wire (docs/protocol.md). Events are
// encoded by splicing their stored `data` object, never re-parsing it, so an event is
// serialized exactly once per commit or page.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace parley {

// {"conv":1,"seq":2,"id":"...","ts":...,"type":"...","sender":3[,"client_msg_id":"..."],"data":{...}}
std::string encode_event(const event& e);
// The push frame for a live or replayed event: {"ev":<event>}.
std::string encode_event_frame(const event& e);
// [<event>,...]
std::string encode_event_array(const std::vector<event>& events);
boost::json::object user_json(const user& u);
boost::json::object member_json(const membership& m);
boost::json::object conversation_json(const conversation& c, const membership& mine);
// A JSON string literal, quotes included.
std::string json_quote(std::string_view s);
// Appends json_quote(s) to out.
void append_json_quoted(std::string& out, std::string_view s);
// {"id":..,"size":..,"type":..[,"width":..,"height":..]}
void append_upload_json(std::string& out, const upload_info& u);
// [{"id":..,"size":..,"type":..[,"width":..,"height":..],"name":..},...]
void append_attachments_json(std::string& out, const std::vector<attachment>& a);

}  // namespace parley
