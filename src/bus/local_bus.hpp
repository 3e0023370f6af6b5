// In-process bus: publish() and publish_notice() call every subscriber synchronously on
// the caller's thread, which keeps the commit order for free. Control messages go
// nowhere (there is no other node). Used on a single node, and by the NATS bus for the
// subscribers of its own node.
#pragma once

#include <memory>
#include <mutex>

#include "bus/bus.hpp"

namespace parley {

class local_bus final : public bus {
 public:
  void publish(std::vector<committed_event_ptr> events) override;
  void subscribe(handler h) override;
  void publish_notice(conv_id conv, std::vector<user_id> users,
                      std::shared_ptr<const std::string> frame) override;
  void subscribe_notices(notice_handler h) override;
  void publish_control(std::string_view topic, std::string payload) override;
  void subscribe_control(std::string topic, control_handler h) override;

 private:
  std::mutex mu_;
  // Replaced (never modified) on subscribe, so publishing takes a reference, not a copy.
  std::shared_ptr<const std::vector<handler>> handlers_ =
      std::make_shared<const std::vector<handler>>();  // guarded by mu_
  std::shared_ptr<const std::vector<notice_handler>> notice_handlers_ =
      std::make_shared<const std::vector<notice_handler>>();  // guarded by mu_
};

}  // namespace parley
