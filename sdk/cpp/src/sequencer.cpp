#include "parley/sdk/sequencer.hpp"

namespace parley::sdk {

void sequencer::set_position(std::int64_t conv, std::int64_t seq) {
  pos_[conv] = seq;
}

std::optional<std::int64_t> sequencer::position(std::int64_t conv) const {
  auto it = pos_.find(conv);
  if (it == pos_.end()) return std::nullopt;
  return it->second;
}

std::vector<event> sequencer::offer(event e) {
  std::vector<event> out;
  auto [it, fresh] = pos_.try_emplace(e.conv, e.seq - 1);
  auto& pos = it->second;
  if (e.seq <= pos) return out;  // duplicate
  auto& held = held_[e.conv];
  if (e.seq == pos + 1) {
    pos = e.seq;
    out.push_back(std::move(e));
    // Release what was waiting behind it.
    for (auto h = held.begin(); h != held.end() && h->first <= pos + 1;) {
      if (h->first == pos + 1) {
        pos = h->first;
        out.push_back(std::move(h->second));
      }
      h = held.erase(h);
    }
  } else if (held.size() < max_held_ || e.seq < held.rbegin()->first) {
    held.emplace(e.seq, std::move(e));
    if (held.size() > max_held_) held.erase(std::prev(held.end()));
  }
  if (held.empty()) held_.erase(it->first);
  return out;
}

std::optional<std::pair<std::int64_t, std::int64_t>> sequencer::gap(std::int64_t conv) const {
  auto h = held_.find(conv);
  if (h == held_.end() || h->second.empty()) return std::nullopt;
  auto p = pos_.find(conv);
  std::int64_t after = p == pos_.end() ? 0 : p->second;
  return std::pair{after, h->second.begin()->first - 1};
}

std::vector<std::int64_t> sequencer::gaps() const {
  std::vector<std::int64_t> out;
  for (const auto& [c, h] : held_)
    if (!h.empty()) out.push_back(c);
  return out;
}

std::size_t sequencer::held() const {
  std::size_t n = 0;
  for (const auto& [c, h] : held_) n += h.size();
  return n;
}

}  // namespace parley::sdk
