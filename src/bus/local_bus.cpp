#include "bus/local_bus.hpp"

namespace parley {

void local_bus::publish(std::vector<committed_event_ptr> events) {
  std::vector<handler> hs;
  {
    std::lock_guard lk(mu_);
    hs = handlers_;
  }
  for (auto& h : hs) h(events);
}

void local_bus::subscribe(handler h) {
  std::lock_guard lk(mu_);
  handlers_.push_back(std::move(h));
}

}  // namespace parley
