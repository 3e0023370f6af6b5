// An event of a conversation's log as the SDK delivers it (docs/protocol.md, "Event").
#pragma once

#include <cstdint>
#include <string>

namespace parley::sdk {

struct event {
  std::int64_t conv = 0;
  std::int64_t seq = 0;
  std::string id;
  std::int64_t ts = 0;
  std::string type;
  std::int64_t sender = 0;
  std::string client_msg_id;
  std::string data_json;  // the event's `data` object, as JSON text
  std::string text;       // data.text for message.created, else empty
};

}  // namespace parley::sdk
