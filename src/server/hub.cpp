#include "server/hub.hpp"

#include <boost/asio/post.hpp>

#include "server/session.hpp"

namespace parley {

void hub::add(const std::shared_ptr<session>& s) {
  std::lock_guard lk(mu_);
  auto [b, e] = by_user_.equal_range(s->uid());
  for (auto it = b; it != e; ++it)
    if (it->second.lock() == s) return;
  by_user_.emplace(s->uid(), s);
}

void hub::remove(const session* s) {
  std::lock_guard lk(mu_);
  auto [it, e] = by_user_.equal_range(s->uid());
  while (it != e) {
    auto p = it->second.lock();
    if (!p || p.get() == s)
      it = by_user_.erase(it);
    else
      ++it;
  }
}

void hub::dispatch(const std::vector<committed_event_ptr>& events) {
  metrics_.events_committed_total.fetch_add(events.size(), std::memory_order_relaxed);
  std::unordered_map<session*,
                     std::pair<std::shared_ptr<session>, std::vector<committed_event_ptr>>>
      per_session;
  {
    std::lock_guard lk(mu_);
    for (const auto& ev : events) {
      for (auto uid : ev->recipients) {
        auto [b, e] = by_user_.equal_range(uid);
        for (auto it = b; it != e; ++it) {
          auto s = it->second.lock();
          if (!s) continue;
          auto& slot = per_session[s.get()];
          if (!slot.first) slot.first = std::move(s);
          slot.second.push_back(ev);
        }
      }
    }
  }
  for (auto& [raw, slot] : per_session) {
    auto s = std::move(slot.first);
    boost::asio::post(s->executor(), [s, evs = std::move(slot.second)] { s->on_events(evs); });
  }
}

void hub::close_device(device_id d, std::uint16_t code, const std::string& reason) {
  std::vector<std::shared_ptr<session>> targets;
  {
    std::lock_guard lk(mu_);
    for (auto& [uid, w] : by_user_)
      if (auto s = w.lock(); s && s->device() == d) targets.push_back(std::move(s));
  }
  for (auto& s : targets)
    boost::asio::post(s->executor(), [s, code, reason] { s->close(code, reason); });
}

void hub::close_all(std::uint16_t code, const std::string& reason) {
  std::vector<std::shared_ptr<session>> targets;
  {
    std::lock_guard lk(mu_);
    for (auto& [uid, w] : by_user_)
      if (auto s = w.lock()) targets.push_back(std::move(s));
  }
  for (auto& s : targets)
    boost::asio::post(s->executor(), [s, code, reason] { s->close(code, reason); });
}

std::size_t hub::size() const {
  std::lock_guard lk(mu_);
  return by_user_.size();
}

}  // namespace parley
