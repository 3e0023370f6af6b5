// An event of a conversation's log as the SDK delivers it (docs/protocol.md, "Event").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace parley::sdk {

// A file a message carries (docs/protocol.md, "Attachments"). To attach, only id and name
// are needed; the server fills in the rest from the upload.
struct attachment {
  std::string id;  // the upload's SHA-256, 64 hex characters
  std::string name;
  std::int64_t size = 0;
  std::string type;           // sniffed by the server
  int width = 0, height = 0;  // images; 0 otherwise
};

struct event {
  std::int64_t conv = 0;
  std::int64_t seq = 0;
  std::string id;
  std::int64_t ts = 0;
  std::string type;
  std::int64_t sender = 0;
  std::string client_msg_id;
  std::string data_json;  // the event's `data` object, as JSON text
  std::string text;       // data.text (message.created, message.edited), else empty
  // The rich-message fields of `data` (docs/protocol.md), 0 / empty when absent:
  std::int64_t msg = 0;                 // the message an edit, delete or reaction is about
  std::int64_t reply_to = 0;            // message.created: the quoted message
  std::int64_t thread = 0;              // message.created: the thread root it replies in
  std::string emoji;                    // reaction.added / reaction.removed
  std::vector<std::int64_t> mentions;   // message.created: mentioned user ids
  bool deleted = false;                 // a tombstone: the message's content was deleted
  std::vector<attachment> attachments;  // message.created: the files it carries
};

}  // namespace parley::sdk
