#include "bus/local_bus.hpp"

namespace parley {

void local_bus::publish(std::vector<committed_event_ptr> events) {
  std::shared_ptr<const std::vector<handler>> hs;
  {
    std::lock_guard lk(mu_);
    hs = handlers_;
  }
  for (const auto& h : *hs) h(events);
}

void local_bus::subscribe(handler h) {
  std::lock_guard lk(mu_);
  auto next = std::make_shared<std::vector<handler>>(*handlers_);
  next->push_back(std::move(h));
  handlers_ = std::move(next);
}

}  // namespace parley
