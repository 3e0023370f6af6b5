// Process-wide counters rendered in the Prometheus text format at GET /metrics.
// All members are atomics: safe to update from any thread without locks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "core/error.hpp"

namespace parley {

class event_cache;

class metrics {
 public:
  std::atomic<std::int64_t> connections{0};  // open WebSocket connections (gauge)
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> http_requests_total{0};
  std::atomic<std::uint64_t> frames_in_total{0};
  std::atomic<std::uint64_t> sends_total{0};  // acknowledged sends (new messages)
  std::atomic<std::uint64_t> sends_duplicate_total{0};
  std::atomic<std::uint64_t> events_committed_total{0};
  std::atomic<std::uint64_t> deliveries_total{0};  // event frames queued to connections
  std::atomic<std::uint64_t> replayed_total{0};    // of which sent by sync catch-up
  std::atomic<std::uint64_t> slow_consumer_closes_total{0};
  std::atomic<std::uint64_t> ws_deflated_total{0};             // WebSocket messages compressed
  std::atomic<std::uint64_t> ws_deflate_reused_total{0};       // of those, compressed earlier
  std::atomic<std::uint64_t> ws_inflated_total{0};             // compressed messages received
  std::atomic<std::uint64_t> tls_handshakes_total{0};          // completed TLS handshakes
  std::atomic<std::uint64_t> tls_handshake_failures_total{0};  // failed, timed out or refused
  std::atomic<std::uint64_t> commits_total{0};
  std::atomic<std::uint64_t> uploads_total{0};  // accepted uploads (deduplicated or not)
  std::atomic<std::uint64_t> upload_bytes_total{0};
  std::atomic<std::uint64_t> downloads_total{0};  // completed downloads (whole or ranges)

  void count_error(errc c);
  // Records one committed transaction carrying `writes` writes that took `seconds`.
  void observe_commit(std::size_t writes, double seconds);
  std::string render() const;
  // The recent-events cache whose figures are rendered too (none: not rendered).
  const event_cache* cache = nullptr;
  // The SQLite store's WAL checkpoints (sqlite_store::checkpoints; unset: not rendered).
  struct checkpoint_figures {
    std::uint64_t checkpoints, held, failed, held_us, max_frames;
  };
  std::function<checkpoint_figures()> checkpoints;

  // Upper bounds (seconds) of the commit latency histogram buckets.
  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

 private:
  std::array<std::atomic<std::uint64_t>, 9> errors_{};
  std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> commit_buckets_{};
  std::atomic<std::uint64_t> commit_sum_us_{0};
  std::atomic<std::uint64_t> commit_writes_{0};
};

}  // namespace parley
