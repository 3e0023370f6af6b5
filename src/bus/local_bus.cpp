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

void local_bus::publish_notice(conv_id, std::vector<user_id> users,
                               std::shared_ptr<const std::string> frame) {
  std::shared_ptr<const std::vector<notice_handler>> hs;
  {
    std::lock_guard lk(mu_);
    hs = notice_handlers_;
  }
  for (const auto& h : *hs) h(users, frame);
}

void local_bus::subscribe_notices(notice_handler h) {
  std::lock_guard lk(mu_);
  auto next = std::make_shared<std::vector<notice_handler>>(*notice_handlers_);
  next->push_back(std::move(h));
  notice_handlers_ = std::move(next);
}

void local_bus::publish_control(std::string_view, std::string) {}

void local_bus::subscribe_control(std::string, control_handler) {}

}  // namespace parley
