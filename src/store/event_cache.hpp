// A bounded in-memory cache of each active conversation's most recent events, so resume
// (sync catch-up) and the newest history pages are served without touching the database.
//
// Filled only from commits: append() is called on the store's writer thread, after the
// transaction is durable, in commit order, so each conversation's cached events are one
// contiguous run of seqs [lo, hi]. A read is served only when every event it needs lies in
// that run; anything else is a miss and goes to the database. Events are immutable once
// committed; a change that rewrites stored events (pruning) must invalidate() first.
//
// Bounds: at most `per_conv` events per conversation (the oldest drop off) and `max_bytes`
// overall (least recently used conversations are evicted whole). Thread-safe: the
// conversations are spread over shards, each with its own mutex held only to copy events.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/model.hpp"

namespace parley {

class event_cache {
 public:
  struct options {
    std::size_t per_conv = 256;         // events kept per conversation; 0 disables
    std::size_t max_bytes = 64u << 20;  // all conversations together
  };
  explicit event_cache(options o);

  // A committed event; events of one conversation arrive in seq order.
  void append(event e);
  void invalidate(conv_id c);

  // Events with from <= seq <= to, ascending, at most `limit`: true and filled if the
  // cache holds all of them, false (a miss) otherwise.
  bool read(conv_id c, seq_t from, seq_t to, std::size_t limit, std::vector<event>& out);
  // The same, descending (newest first).
  bool read_desc(conv_id c, seq_t from, seq_t to, std::size_t limit, std::vector<event>& out);

  std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  std::int64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::int64_t events() const { return events_.load(std::memory_order_relaxed); }

 private:
  struct entry {
    std::deque<event> evs;  // contiguous seqs, oldest first
    std::size_t bytes = 0;
    std::list<conv_id>::iterator lru;  // position in the shard's use order (front = newest)
  };
  struct shard {
    std::mutex mu;
    std::unordered_map<conv_id, entry> convs;
    std::list<conv_id> lru;
    std::size_t bytes = 0;
  };
  static constexpr std::size_t kShards = 16;
  static std::size_t cost(const event& e);
  shard& shard_of(conv_id c) { return shards_[static_cast<std::size_t>(c) % kShards]; }
  void drop_front(shard& s, entry& en);
  void erase(shard& s, std::unordered_map<conv_id, entry>::iterator it);
  bool count(bool hit);

  options opt_;
  std::size_t shard_budget_;
  std::array<shard, kShards> shards_;
  std::atomic<std::uint64_t> hits_{0}, misses_{0};
  std::atomic<std::int64_t> bytes_{0}, events_{0};
};

}  // namespace parley
