// One connection of parley-cli: the SDK's client with its handlers turned into a queue the
// command's thread reads, and the bookkeeping that keeps the store's positions meaning
// "shown to the user".
//
// The SDK stores, after each batch, the last seq it delivered per conversation. A command
// that receives events it does not show (send, or tail filtered to some conversations,
// or tail --count stopping in the middle of a batch) would make a later `tail` skip them.
// So the session remembers the positions it started from and what was shown, and after
// the client stopped it rewinds every position that moved past what was shown, unless a
// `tail` in another process is following the same store (it shows those events).
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "cli.hpp"
#include "config.hpp"
#include "parley/sdk/client.hpp"

namespace parley::cli {

using clock = std::chrono::steady_clock;

struct session_options {
  endpoint server;
  std::string token;
  std::string store_path = ":memory:";  // the account's store for send and tail
  std::chrono::milliseconds timeout{10000};
  std::vector<sdk::transport> transports{sdk::transport::websocket, sdk::transport::sse,
                                         sdk::transport::long_polling};
  bool follow = false;  // tail: runs for long, reconnects with a longer backoff cap
  bool rewind = true;   // rewind unshown positions when stopping (see above)
  // Conversations without a stored position: replay from the join (the SDK's option;
  // false: with no position at all, start live).
  bool replay_from_join = false;
};

// What the client reported, in the order it happened.
struct lost_history {
  std::int64_t conv, from_seq, to_seq;
};
struct send_failed {
  std::string client_msg_id;
  error err;
};
struct auth_failed {
  error err;
};
using happening = std::variant<sdk::event, sdk::send_ack, send_failed, lost_history, sdk::state,
                               auth_failed, sdk::typing_update, sdk::presence_update>;

class session {
 public:
  // Reads the store's positions, then starts the client.
  explicit session(session_options o);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // Waits until online. Throws failure: unauthenticated (exit 3) if the token was
  // rejected, unreachable (exit 4) at the deadline.
  void wait_online(clock::time_point deadline);
  // Runs an operation (waiting to be online first). Throws failure on any error.
  boost::json::object call(const std::string& op, boost::json::object args,
                           clock::time_point deadline);
  // Queues a message in the durable outbox; returns its client_msg_id.
  std::string send(std::int64_t conv, const std::string& text, const sdk::send_options& o = {});
  std::size_t outbox_size() const { return client_->outbox_size(); }
  sdk::state state() const { return client_->current_state(); }

  // The next happening, or nothing at the deadline.
  std::optional<happening> next(clock::time_point deadline);

  // The command showed this event to the user.
  void shown(const sdk::event& e);
  // Stops the client (the outbox keeps what was not acknowledged), then, with
  // options.rewind, moves positions back to what was shown (see above).
  void stop();

 private:
  session_options opt_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<happening> queue_;
  bool stopped_ = false;
  // Positions: from the store at the start, first and last delivered, last shown.
  std::unordered_map<std::int64_t, std::int64_t> original_, first_, delivered_, shown_;
  std::unique_ptr<sdk::client> client_;

  void push(happening h);
  void rewind();
};

}  // namespace parley::cli
