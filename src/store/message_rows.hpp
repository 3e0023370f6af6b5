// How both store backends lay out message state in rows: the row id that makes one
// conversation's messages a contiguous range, and the mentions column's id list.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"

namespace parley {

// conv_id * 2^32 + seq: a conversation holds at most 2^32 - 1 events.
constexpr std::int64_t kMessageSeqSpan = std::int64_t{1} << 32;
constexpr std::int64_t message_row_id(conv_id c, seq_t seq) {
  return c * kMessageSeqSpan + seq;
}
// Narrows [from_seq, to_seq] to the seqs a row id can hold (0 .. kMessageSeqSpan - 1);
// false when none is left.
constexpr bool clamp_row_seqs(seq_t& from_seq, seq_t& to_seq) {
  from_seq = std::max<seq_t>(from_seq, 0);
  to_seq = std::min<seq_t>(to_seq, kMessageSeqSpan - 1);
  return from_seq <= to_seq;
}

// "3,17,42" and back; an empty string is no ids.
std::string join_ids(const std::vector<user_id>& ids);
std::vector<user_id> split_ids(std::string_view s);

}  // namespace parley
