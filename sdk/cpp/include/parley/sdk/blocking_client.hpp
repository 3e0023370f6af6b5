// A blocking facade over parley::sdk::client for scripts, tools and tests: every call
// waits (with a timeout) instead of taking a callback. Events are queued until read.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "parley/sdk/client.hpp"

namespace parley::sdk {

class blocking_client {
 public:
  // Starts the client at once.
  explicit blocking_client(client_options opt);
  ~blocking_client();

  bool wait_online(std::chrono::milliseconds timeout);
  // Runs an operation; waits for it to be online first (within the same timeout).
  result<boost::json::object> call(const std::string& op, boost::json::object args,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(15));
  std::string send(std::int64_t conv, const std::string& text, const send_options& o = {}) {
    return c_.send(conv, text, o);
  }
  bool wait_outbox_empty(std::chrono::milliseconds timeout);
  std::optional<event> next_event(std::chrono::milliseconds timeout);
  // Exactly n events, or fewer on timeout.
  std::vector<event> events(std::size_t n, std::chrono::milliseconds timeout);
  std::vector<send_ack> acks();
  std::vector<std::pair<std::string, error>> failures();
  // Notices about the user's own state (read positions, follows) received so far.
  std::vector<boost::json::object> notices();
  // Receipts, typing and presence updates received so far.
  std::vector<receipt_update> receipt_updates();
  std::vector<typing_update> typing_updates();
  std::vector<presence_update> presence_updates();
  // Waits until `pred` holds for what was received (checked at every update).
  bool wait_for(const std::function<bool(blocking_client&)>& pred,
                std::chrono::milliseconds timeout);
  state current_state() const { return c_.current_state(); }
  client& async() { return c_; }
  void stop() { c_.stop(); }

 private:
  client_handlers handlers();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<event> events_;
  std::vector<send_ack> acks_;
  std::vector<std::pair<std::string, error>> failures_;
  std::vector<boost::json::object> notices_;
  std::vector<receipt_update> receipts_;
  std::vector<typing_update> typing_;
  std::vector<presence_update> presence_;
  std::optional<error> auth_error_;
  client c_;
};

}  // namespace parley::sdk
