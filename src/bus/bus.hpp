// The fan-out bus: carries committed events from the node that committed them to every
// node that has recipients online. The in-process bus (bus/local_bus) is the first
// implementation; a NATS bus comes later. Every implementation passes
// tests/unit/bus_conformance_test.cpp.
//
// Contract:
// - publish() is called by the store's writer in commit order; a bus delivers the events
//   of one conversation to each subscriber in the order published. It must not block.
// - The bus is not the source of truth: a subscriber that misses events (a reconnect, an
//   overflow) recovers them from the store by seq. Delivery is at most once.
// - subscribe() handlers run on a bus thread (for the local bus: the publisher's thread)
//   and must not block. Subscribe before publishing; subscriptions last for the bus's life.
// - Safe to call from any thread.
#pragma once

#include <functional>
#include <vector>

#include "core/model.hpp"

namespace parley {

class bus {
 public:
  virtual ~bus() = default;
  using handler = std::function<void(const std::vector<committed_event_ptr>&)>;
  virtual void publish(std::vector<committed_event_ptr> events) = 0;
  virtual void subscribe(handler h) = 0;
};

}  // namespace parley
