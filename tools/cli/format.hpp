// Output of parley-cli: one line per item, readable text for a person or JSON lines
// (--json) for scripts. Text from the server (messages, titles, handles) is always
// printed as inert text: control characters, invalid UTF-8 and bidirectional overrides
// are escaped, so a message cannot move the cursor, recolour the terminal or reorder
// what is shown.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "parley/sdk/event.hpp"

namespace parley::cli {

// Escapes C0 and C1 control characters, DEL, backslash, invalid UTF-8 bytes and the
// Unicode bidirectional formatting characters: "\n", "\t", "\\", "\x1b", "\u202e".
std::string escape_text(std::string_view s);
// escape_text in double quotes (also escaping '"').
std::string quoted(std::string_view s);

// Milliseconds since the epoch as local "YYYY-MM-DD HH:MM:SS".
std::string format_time(std::int64_t ms);

// Lenient field readers: the value, or "" / 0 when absent or of another type.
std::string json_str(const boost::json::object& o, const char* key);
std::int64_t json_int(const boost::json::object& o, const char* key);

// A protocol event object (docs/protocol.md, "Event object") to the SDK's struct and back.
sdk::event event_from_json(const boost::json::object& o);
boost::json::object event_to_json(const sdk::event& e);

// User id to handle, learned from conversation objects and events.
class names {
 public:
  void learn(std::int64_t id, std::string_view handle);
  // From a conversation object's "members", or an event's data.
  void learn_conversation(const boost::json::object& conv);
  void learn_event(const sdk::event& e);
  // The handle, or "user#ID" when unknown; escaped.
  std::string name(std::int64_t id) const;

 private:
  std::unordered_map<std::int64_t, std::string> names_;
};

// "2025-11-25 21:43:20 #12:57 ann: hello" or "... #12:1 * ann created the group "team"".
std::string render_event(const sdk::event& e, const names& n);
// ` [file "cat.png" image/png 48213 bytes 640x480 id:<64 hex>]` for each attachment.
std::string render_attachments(const std::vector<sdk::attachment>& a);
std::vector<sdk::attachment> attachments_from_json(const boost::json::value* v);

// Thrown by print_line when stdout is gone (a closed pipe: `parley-cli tail | head -1`).
struct output_closed {};

// Whether stdout is a pipe whose reader is gone (checked without writing).
bool stdout_closed();

// Prints one line to stdout and flushes it (so a pipe sees every line at once).
void print_line(const std::string& line);
void print_json(const boost::json::object& o);

}  // namespace parley::cli
