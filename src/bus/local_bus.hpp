// In-process bus: publish() calls every subscriber synchronously on the caller's thread,
// which keeps the commit order for free. Used on a single node.
#pragma once

#include <memory>
#include <mutex>

#include "bus/bus.hpp"

namespace parley {

class local_bus final : public bus {
 public:
  void publish(std::vector<committed_event_ptr> events) override;
  void subscribe(handler h) override;

 private:
  std::mutex mu_;
  // Replaced (never modified) on subscribe, so publish takes a reference, not a copy.
  std::shared_ptr<const std::vector<handler>> handlers_ =
      std::make_shared<const std::vector<handler>>();  // guarded by mu_
};

}  // namespace parley
