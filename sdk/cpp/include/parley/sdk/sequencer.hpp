// The in-order, exactly-once core of the inbox: given events in any order, with
// duplicates, it releases each event once, in seq order per conversation, and says which
// range to fetch when a gap is detected. Pure logic; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "parley/sdk/event.hpp"

namespace parley::sdk {

class sequencer {
 public:
  // Events held per conversation while waiting for a gap to fill; beyond this the
  // newest are dropped (the history fetch brings them back).
  explicit sequencer(std::size_t max_held = 10000) : max_held_(max_held) {}

  // The last seq delivered for conv (from the local store at start).
  void set_position(std::int64_t conv, std::int64_t seq);
  std::optional<std::int64_t> position(std::int64_t conv) const;
  const std::unordered_map<std::int64_t, std::int64_t>& positions() const { return pos_; }

  // Offers an event; returns the events now deliverable, in order. For a conversation
  // without a position, the first event offered starts it.
  std::vector<event> offer(event e);
  // If conv has held events beyond a hole: the range (after, up_to) to fetch.
  std::optional<std::pair<std::int64_t, std::int64_t>> gap(std::int64_t conv) const;
  // Conversations with a gap.
  std::vector<std::int64_t> gaps() const;
  std::size_t held() const;

 private:
  std::size_t max_held_;
  std::unordered_map<std::int64_t, std::int64_t> pos_;
  std::unordered_map<std::int64_t, std::map<std::int64_t, event>> held_;
};

}  // namespace parley::sdk
