// Typing indicators: ephemeral (never stored), per user and conversation. A start is sent
// to the conversation's other members (not to the typist's own devices) at most once per
// kThrottleMs while it continues; it expires kExpiryMs after the last start unless a stop
// comes first (receivers expire it themselves: the notice says when). A resumed session
// gets the current state. Lock order: the mutex is a leaf; nothing is called while holding
// it.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "bus/bus.hpp"
#include "core/error.hpp"
#include "store/store.hpp"

namespace parley {

class typing_tracker {
 public:
  static constexpr std::int64_t kExpiryMs = 5000;
  static constexpr std::int64_t kThrottleMs = 2000;

  typing_tracker(store& st, bus& b) : st_(st), bus_(b) {}
  // u starts (on) or stops typing in c; u must be an active member. `done` gets {} or the
  // error, on a store thread.
  void set(user_id u, conv_id c, bool on, std::function<void(result<std::string>)> done);
  // Notices for who is typing now in the conversations, other than `viewer`.
  std::vector<std::string> current(user_id viewer, const std::vector<conv_id>& convs);
  // u's last connection went away: what u was typing stops (the others are told).
  void user_gone(user_id u);

 private:
  struct entry {
    std::int64_t expires_ms = 0;
    std::int64_t sent_ms = 0;
  };
  static std::string notice(conv_id c, user_id u, bool on, std::int64_t expires_in_ms);
  void broadcast(conv_id c, user_id u, bool on);

  store& st_;
  bus& bus_;
  std::mutex mu_;
  std::map<std::pair<conv_id, user_id>, entry> active_;
};

}  // namespace parley
