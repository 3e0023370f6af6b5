// The wire format of messages between nodes (the NATS bus's payloads): a kind byte, then
// little-endian fixed-width integers and length-prefixed strings.
//
//   events: 'E' u32 count, then per event: i64 conv, i64 seq, i64 ts_ms, i64 sender,
//           str id, str type, str client_msg_id, str data, u32 n, i64 recipients[n]
//   notice: 'N' u32 n, i64 users[n], str frame
//   str:    u32 length, bytes
//
// The push frame of an event is not carried: the receiver encodes it again from the event
// (encode_event_frame is deterministic), which halves the bytes on the wire. Decoding
// checks every length against the message and fails (nullopt) on anything malformed or
// left over.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"

namespace parley::bus_codec {

std::string encode_events(const std::vector<committed_event_ptr>& events);
std::optional<std::vector<committed_event_ptr>> decode_events(std::string_view bytes);

struct notice {
  std::vector<user_id> users;
  std::shared_ptr<const std::string> frame;
};
std::string encode_notice(const std::vector<user_id>& users, const std::string& frame);
std::optional<notice> decode_notice(std::string_view bytes);

}  // namespace parley::bus_codec
