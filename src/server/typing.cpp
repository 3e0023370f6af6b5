#include "server/typing.hpp"

#include <algorithm>

#include "core/service.hpp"
#include "core/service_access.hpp"

namespace parley {

std::string typing_tracker::notice(conv_id c, user_id u, bool on, std::int64_t expires_in_ms) {
  std::string n = "{\"notice\":\"typing\",\"conv\":" + std::to_string(c) +
                  ",\"user\":" + std::to_string(u) + ",\"typing\":" + (on ? "true" : "false");
  if (on) n += ",\"expires_ms\":" + std::to_string(expires_in_ms);
  return n + "}";
}

void typing_tracker::set(user_id u, conv_id c, bool on,
                         std::function<void(result<std::string>)> done) {
  st_.read(
      [this, u, c, on, done](read_txn& t) {
        if (auto m = require_member(t, c, u); !m) return done(m.err());
        auto now = now_ms();
        bool send = false;
        {
          std::lock_guard lk(mu_);
          if (active_.size() > 4096)  // bounded: expired entries go
            std::erase_if(active_, [now](const auto& kv) { return kv.second.expires_ms <= now; });
          auto it = active_.find({c, u});
          bool was_on = it != active_.end() && it->second.expires_ms > now;
          if (on) {
            auto& e = active_[{c, u}];
            e.expires_ms = now + kExpiryMs;
            send = !was_on || now - e.sent_ms >= kThrottleMs;
            if (send) e.sent_ms = now;
          } else if (it != active_.end()) {
            active_.erase(it);
            send = was_on;
          }
        }
        if (send) {
          auto members = t.list_member_ids(c);
          members.erase(std::remove(members.begin(), members.end(), u), members.end());
          bus_.publish_notice(c, std::move(members),
                              std::make_shared<const std::string>(notice(c, u, on, kExpiryMs)));
        }
        done(std::string("{}"));
      },
      [done](const error& e) { done(e); });
}

std::vector<std::string> typing_tracker::current(user_id viewer,
                                                 const std::vector<conv_id>& convs) {
  std::vector<std::string> out;
  auto now = now_ms();
  std::lock_guard lk(mu_);
  for (auto c : convs)
    for (auto it = active_.lower_bound({c, 0}); it != active_.end() && it->first.first == c; ++it)
      if (it->first.second != viewer && it->second.expires_ms > now)
        out.push_back(notice(c, it->first.second, true, it->second.expires_ms - now));
  return out;
}

void typing_tracker::user_gone(user_id u) {
  std::vector<conv_id> stopped;
  auto now = now_ms();
  {
    std::lock_guard lk(mu_);
    for (auto it = active_.begin(); it != active_.end();) {
      if (it->second.expires_ms <= now) {
        it = active_.erase(it);  // expired anyway: forget it
      } else if (it->first.second == u) {
        stopped.push_back(it->first.first);
        it = active_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto c : stopped) broadcast(c, u, false);
}

void typing_tracker::broadcast(conv_id c, user_id u, bool on) {
  st_.read(
      [this, c, u, on](read_txn& t) {
        auto members = t.list_member_ids(c);
        members.erase(std::remove(members.begin(), members.end(), u), members.end());
        bus_.publish_notice(c, std::move(members),
                            std::make_shared<const std::string>(notice(c, u, on, kExpiryMs)));
      },
      [](const error&) {});
}

}  // namespace parley
