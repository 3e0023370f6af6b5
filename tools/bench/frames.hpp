// Reading Parley's server frames fast: event frames in the server's exact layout
// (src/core/codec.cpp) are read field by field; anything else goes through Boost.JSON.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string_view>

namespace bench {

struct ev_view {
  std::int64_t conv = 0, seq = 0, ts = 0, sender = 0;
  std::int64_t sent_ns = -1;  // the send time a benchmark text starts with, or -1
  std::string_view type, cmid;
};

// An event frame exactly as the server lays it out; false for anything else.
bool fast_event(std::string_view frame, ev_view& e);
// The "ev" member of a parsed frame.
bool json_event(const boost::json::value& ev, ev_view& e);
// A client_msg_id of the form <tag>-<sender>-<n>.
bool parse_cmid(std::string_view cmid, std::string_view tag, std::int64_t& sender, std::int64_t& n);

}  // namespace bench
