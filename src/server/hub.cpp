#include "server/hub.hpp"

#include <boost/asio/post.hpp>

#include "server/session.hpp"

namespace parley {

void hub::add(const std::shared_ptr<session>& s) {
  std::lock_guard lk(mu_);
  auto& v = by_user_[s->uid()];
  for (const auto& w : v)
    if (w.lock() == s) return;
  v.push_back(s);
}

void hub::remove(const session* s) {
  std::lock_guard lk(mu_);
  auto it = by_user_.find(s->uid());
  if (it == by_user_.end()) return;
  auto& v = it->second;
  std::erase_if(v, [s](const std::weak_ptr<session>& w) {
    auto p = w.lock();
    return !p || p.get() == s;
  });
  if (v.empty()) by_user_.erase(it);
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
        auto it = by_user_.find(uid);
        if (it == by_user_.end()) continue;
        for (const auto& w : it->second) {
          auto s = w.lock();
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
    for (auto& [uid, v] : by_user_)
      for (auto& w : v)
        if (auto s = w.lock(); s && s->device() == d) targets.push_back(std::move(s));
  }
  for (auto& s : targets)
    boost::asio::post(s->executor(), [s, code, reason] { s->close(code, reason); });
}

void hub::close_all(std::uint16_t code, const std::string& reason) {
  std::vector<std::shared_ptr<session>> targets;
  {
    std::lock_guard lk(mu_);
    for (auto& [uid, v] : by_user_)
      for (auto& w : v)
        if (auto s = w.lock()) targets.push_back(std::move(s));
  }
  for (auto& s : targets)
    boost::asio::post(s->executor(), [s, code, reason] { s->close(code, reason); });
}

std::size_t hub::size() const {
  std::lock_guard lk(mu_);
  std::size_t n = 0;
  for (const auto& [uid, v] : by_user_) n += v.size();
  return n;
}

}  // namespace parley
