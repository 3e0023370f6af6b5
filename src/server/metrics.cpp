#include "server/metrics.hpp"

#include <sstream>

#include "server/heap_stats.hpp"
#include "store/event_cache.hpp"

namespace parley {

void metrics::count_error(errc c) {
  auto i = static_cast<std::size_t>(c);
  if (i < errors_.size()) errors_[i].fetch_add(1, std::memory_order_relaxed);
}

void metrics::observe_commit(std::size_t writes, double seconds) {
  commits_total.fetch_add(1, std::memory_order_relaxed);
  commit_writes_.fetch_add(writes, std::memory_order_relaxed);
  commit_sum_us_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  std::size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  commit_buckets_[b].fetch_add(1, std::memory_order_relaxed);
}

std::string metrics::render() const {
  std::ostringstream o;
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n"
      << name << ' ' << v << '\n';
  };
  o << "# HELP parley_connections Open WebSocket connections.\n"
       "# TYPE parley_connections gauge\nparley_connections "
    << connections.load() << '\n';
  counter("parley_connections_total", "WebSocket connections accepted.", connections_total.load());
  counter("parley_http_requests_total", "HTTP requests served (REST, health, metrics).",
          http_requests_total.load());
  counter("parley_uploads_total", "Uploads accepted (POST /v1/uploads).", uploads_total.load());
  counter("parley_upload_bytes_total", "Bytes of accepted uploads.", upload_bytes_total.load());
  counter("parley_downloads_total", "Downloads served to the end (GET /v1/uploads/{id}).",
          downloads_total.load());
  counter("parley_frames_in_total", "Request frames received over WebSocket.",
          frames_in_total.load());
  counter("parley_sends_total", "Messages stored and acknowledged.", sends_total.load());
  counter("parley_sends_duplicate_total", "Retried sends answered with the original ack.",
          sends_duplicate_total.load());
  counter("parley_events_committed_total", "Events appended to conversation logs.",
          events_committed_total.load());
  counter("parley_deliveries_total", "Event frames queued to connections (live and replay).",
          deliveries_total.load());
  counter("parley_replayed_total", "Event frames sent by sync catch-up.", replayed_total.load());
  if (cache) {
    counter("parley_event_cache_hits_total", "Event reads answered from the recent-events cache.",
            cache->hits());
    counter("parley_event_cache_misses_total", "Event reads that went to the database.",
            cache->misses());
    o << "# HELP parley_event_cache_bytes Memory held by the recent-events cache.\n"
         "# TYPE parley_event_cache_bytes gauge\nparley_event_cache_bytes "
      << cache->bytes() << "\n# HELP parley_event_cache_events Events held by the cache.\n"
      << "# TYPE parley_event_cache_events gauge\nparley_event_cache_events " << cache->events()
      << '\n';
  }
  counter("parley_slow_consumer_closes_total",
          "Connections closed because their outbound queue overflowed.",
          slow_consumer_closes_total.load());
  counter("parley_ws_deflated_total", "WebSocket messages sent compressed (permessage-deflate).",
          ws_deflated_total.load());
  counter("parley_ws_deflate_reused_total",
          "Of those, messages whose compression was done once for an earlier connection.",
          ws_deflate_reused_total.load());
  counter("parley_ws_inflated_total", "Compressed WebSocket messages received.",
          ws_inflated_total.load());
  counter("parley_tls_handshakes_total", "TLS handshakes completed (tls.cert_file set).",
          tls_handshakes_total.load());
  counter("parley_tls_handshake_failures_total",
          "TLS handshakes that failed, timed out, or were refused by the per-address limit.",
          tls_handshake_failures_total.load());
  counter("parley_commit_writes_total", "Writes carried by committed transactions.",
          commit_writes_.load());
  auto heap = read_heap_stats();
  o << "# HELP parley_heap_info The memory allocator the server runs on.\n"
       "# TYPE parley_heap_info gauge\nparley_heap_info{allocator=\""
    << heap.allocator << "\"} 1\n"
    << "# HELP parley_heap_allocated_bytes Bytes in live heap allocations.\n"
       "# TYPE parley_heap_allocated_bytes gauge\nparley_heap_allocated_bytes "
    << heap.allocated << '\n';
  if (heap.resident > 0)
    o << "# HELP parley_heap_resident_bytes Bytes of the heap in physical memory.\n"
         "# TYPE parley_heap_resident_bytes gauge\nparley_heap_resident_bytes "
      << heap.resident << '\n';
  o << "# HELP parley_errors_total Error replies by code.\n# TYPE parley_errors_total counter\n";
  for (std::size_t i = 1; i < errors_.size(); ++i)
    o << "parley_errors_total{code=\"" << errc_name(static_cast<errc>(i)) << "\"} "
      << errors_[i].load() << '\n';
  if (checkpoints) {
    auto c = checkpoints();
    counter("parley_wal_checkpoints_total", "WAL checkpoints run beside the writer.",
            c.checkpoints);
    counter("parley_wal_checkpoints_held_total",
            "Of them, with the writer held out (the WAL then starts again).", c.held);
    o << "# HELP parley_wal_checkpoint_held_seconds_total Time from the request to hold the writer "
         "to its release.\n"
         "# TYPE parley_wal_checkpoint_held_seconds_total counter\n"
         "parley_wal_checkpoint_held_seconds_total "
      << static_cast<double>(c.held_us) / 1e6 << '\n';
    counter("parley_wal_checkpoint_failures_total", "Checkpoints that failed (logged).", c.failed);
    o << "# HELP parley_wal_frames_max The longest WAL a commit left, in 4 KiB pages.\n"
         "# TYPE parley_wal_frames_max gauge\nparley_wal_frames_max "
      << c.max_frames << '\n';
  }
  o << "# HELP parley_commit_seconds Duration of a group commit (BEGIN to COMMIT).\n"
       "# TYPE parley_commit_seconds histogram\n";
  std::uint64_t cum = 0;
  for (std::size_t b = 0; b < kBuckets.size(); ++b) {
    cum += commit_buckets_[b].load();
    o << "parley_commit_seconds_bucket{le=\"" << kBuckets[b] << "\"} " << cum << '\n';
  }
  cum += commit_buckets_[kBuckets.size()].load();
  o << "parley_commit_seconds_bucket{le=\"+Inf\"} " << cum << '\n'
    << "parley_commit_seconds_sum " << static_cast<double>(commit_sum_us_.load()) / 1e6 << '\n'
    << "parley_commit_seconds_count " << cum << '\n';
  return o.str();
}

}  // namespace parley
