// Reconnection schedule: exponential backoff with full jitter.
//
// The n-th consecutive failed attempt waits a uniformly random time in
// [0, min(cap, base * 2^n)]. A connection that stayed up for at least `stable_after`
// resets the schedule, so a flapping server is not hammered but a long-lived connection
// that drops reconnects quickly. The clock and the random source are injected so the
// schedule is testable. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>

namespace parley::sdk {

struct backoff_policy {
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds cap{30000};
  std::chrono::milliseconds stable_after{10000};
};

class backoff {
 public:
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;

  explicit backoff(
      backoff_policy p, std::uint64_t seed = std::random_device{}(),
      clock_fn now = [] { return std::chrono::steady_clock::now(); });

  // A connection is established (online).
  void on_connected();
  // An attempt failed or a connection dropped: how long to wait before the next attempt.
  std::chrono::milliseconds next_delay();
  // Consecutive failures so far (0 after a reset).
  unsigned attempt() const { return attempt_; }
  // The upper bound of the next delay.
  std::chrono::milliseconds ceiling() const;

 private:
  backoff_policy p_;
  std::mt19937_64 rng_;
  clock_fn now_;
  unsigned attempt_ = 0;
  std::optional<std::chrono::steady_clock::time_point> connected_at_;
};

}  // namespace parley::sdk
