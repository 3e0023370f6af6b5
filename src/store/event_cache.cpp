#include "store/event_cache.hpp"

#include <algorithm>
#include <utility>

namespace parley {

event_cache::event_cache(options o) : opt_(o), shard_budget_(o.max_bytes / kShards) {}

std::size_t event_cache::cost(const event& e) {
  return sizeof(event) + e.id.size() + e.type.size() + e.client_msg_id.size() + e.data.size();
}

void event_cache::drop_front(shard& s, entry& en) {
  auto c = cost(en.evs.front());
  en.bytes -= c;
  s.bytes -= c;
  bytes_.fetch_sub(static_cast<std::int64_t>(c), std::memory_order_relaxed);
  events_.fetch_sub(1, std::memory_order_relaxed);
  en.evs.pop_front();
}

void event_cache::erase(shard& s, std::unordered_map<conv_id, entry>::iterator it) {
  auto& en = it->second;
  s.bytes -= en.bytes;
  bytes_.fetch_sub(static_cast<std::int64_t>(en.bytes), std::memory_order_relaxed);
  events_.fetch_sub(static_cast<std::int64_t>(en.evs.size()), std::memory_order_relaxed);
  s.lru.erase(en.lru);
  s.convs.erase(it);
}

void event_cache::append(event e) {
  if (opt_.per_conv == 0) return;
  auto& s = shard_of(e.conv);
  std::lock_guard lk(s.mu);
  auto it = s.convs.find(e.conv);
  if (it == s.convs.end()) {
    s.lru.push_front(e.conv);
    it = s.convs.emplace(e.conv, entry{}).first;
    it->second.lru = s.lru.begin();
  } else {
    s.lru.splice(s.lru.begin(), s.lru, it->second.lru);
  }
  auto& en = it->second;
  // Not the next seq (cannot happen with commit-ordered appends): start a new run.
  while (!en.evs.empty() && en.evs.back().seq + 1 != e.seq) drop_front(s, en);
  auto c = cost(e);
  en.evs.push_back(std::move(e));
  en.bytes += c;
  s.bytes += c;
  bytes_.fetch_add(static_cast<std::int64_t>(c), std::memory_order_relaxed);
  events_.fetch_add(1, std::memory_order_relaxed);
  while (en.evs.size() > opt_.per_conv) drop_front(s, en);
  // Over the shard's share of the budget: evict the least recently used conversations.
  while (s.bytes > shard_budget_ && s.lru.size() > 1) erase(s, s.convs.find(s.lru.back()));
}

void event_cache::invalidate(conv_id c) {
  auto& s = shard_of(c);
  std::lock_guard lk(s.mu);
  if (auto it = s.convs.find(c); it != s.convs.end()) erase(s, it);
}

bool event_cache::count(bool hit) {
  (hit ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return hit;
}

bool event_cache::read(conv_id c, seq_t from, seq_t to, std::size_t limit,
                       std::vector<event>& out) {
  if (opt_.per_conv == 0) return false;
  if (limit == 0 || from > to) return count(true);  // nothing asked for
  auto& s = shard_of(c);
  std::lock_guard lk(s.mu);
  auto it = s.convs.find(c);
  if (it == s.convs.end() || it->second.evs.empty()) return count(false);
  auto& evs = it->second.evs;
  seq_t lo = evs.front().seq, hi = evs.back().seq;
  // Needed: from .. min(to, from + limit - 1), all of it inside [lo, hi].
  seq_t last = std::min<seq_t>(to, from + static_cast<seq_t>(limit) - 1);
  if (from < lo || last > hi) return count(false);
  s.lru.splice(s.lru.begin(), s.lru, it->second.lru);
  for (seq_t q = from; q <= last; ++q) out.push_back(evs[static_cast<std::size_t>(q - lo)]);
  return count(true);
}

bool event_cache::read_desc(conv_id c, seq_t from, seq_t to, std::size_t limit,
                            std::vector<event>& out) {
  if (opt_.per_conv == 0) return false;
  if (limit == 0 || from > to) return count(true);
  auto& s = shard_of(c);
  std::lock_guard lk(s.mu);
  auto it = s.convs.find(c);
  if (it == s.convs.end() || it->second.evs.empty()) return count(false);
  auto& evs = it->second.evs;
  seq_t lo = evs.front().seq, hi = evs.back().seq;
  // Needed: to down to max(from, to - limit + 1), all of it inside [lo, hi].
  seq_t first = std::max<seq_t>(from, to - static_cast<seq_t>(limit) + 1);
  if (to > hi || first < lo) return count(false);
  s.lru.splice(s.lru.begin(), s.lru, it->second.lru);
  for (seq_t q = to; q >= first; --q) out.push_back(evs[static_cast<std::size_t>(q - lo)]);
  return count(true);
}

}  // namespace parley
