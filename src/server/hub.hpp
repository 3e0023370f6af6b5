// The registry of synced sessions by user, and live fan-out of committed events.
//
// dispatch() is the bus subscriber: for a batch of events it finds each recipient's
// sessions under the lock, groups the events per session, and posts one call per
// session to that session's executor outside the lock. Event frames are shared, never
// copied. Lock order: hub::mu_ is a leaf lock; nothing is called while holding it.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/model.hpp"
#include "server/metrics.hpp"

namespace parley {

class session;

class hub {
 public:
  explicit hub(metrics& m) : metrics_(m) {}
  void add(const std::shared_ptr<session>& s);
  void remove(const session* s);
  void dispatch(const std::vector<committed_event_ptr>& events);
  // Closes every session of a device (logout) / of the process (shutdown).
  void close_device(device_id d, std::uint16_t code, const std::string& reason);
  void close_all(std::uint16_t code, const std::string& reason);
  std::size_t size() const;

 private:
  metrics& metrics_;
  mutable std::mutex mu_;
  // One node per session (a user has few): no per-user vector beside the node.
  std::unordered_multimap<user_id, std::weak_ptr<session>> by_user_;  // guarded by mu_
};

}  // namespace parley
