// In-process bus: publish() calls every subscriber synchronously on the caller's thread,
// which keeps the commit order for free. Used on a single node.
#pragma once

#include <mutex>

#include "bus/bus.hpp"

namespace parley {

class local_bus final : public bus {
 public:
  void publish(std::vector<committed_event_ptr> events) override;
  void subscribe(handler h) override;

 private:
  std::mutex mu_;
  std::vector<handler> handlers_;  // guarded by mu_; append-only
};

}  // namespace parley
