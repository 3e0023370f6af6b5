#include "server/search_indexer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>

namespace parley {

namespace {
constexpr std::size_t kMergePages = 256;  // index pages merged per round (purge, compaction)
constexpr auto kRoundTarget = std::chrono::milliseconds(2);  // indexing time per round
constexpr std::size_t kMinBatch = 64;
}  // namespace

std::size_t next_index_batch(std::size_t current, std::size_t taken, std::chrono::microseconds took,
                             std::chrono::microseconds target, std::size_t min, std::size_t max) {
  if (taken == 0 || took.count() <= 0) return current;
  auto fit = static_cast<double>(taken) * static_cast<double>(target.count()) /
             static_cast<double>(took.count());
  return static_cast<std::size_t>(
      std::clamp(fit, static_cast<double>(min), static_cast<double>(max)));
}

search_indexer::search_indexer(boost::asio::io_context& io, store& st,
                               std::chrono::milliseconds interval, std::size_t batch)
    : io_(io), st_(st), interval_(interval), batch_(batch), next_(batch), timer_(io) {}

void search_indexer::start() {
  schedule(interval_);
}

void search_indexer::schedule(std::chrono::milliseconds delay) {
  timer_.expires_after(delay);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->round();
  });
}

void search_indexer::round() {
  struct outcome {
    std::size_t taken = 0;
    std::chrono::microseconds took{0};
  };
  auto out = std::make_shared<outcome>();
  const auto batch = next_;
  st_.write(
      [out, batch](write_txn& t) {
        auto t0 = std::chrono::steady_clock::now();
        out->taken = t.index_pending(batch);
        out->took = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - t0);
        // Bounded merge work per round until deleted messages' terms are purged; when
        // nothing was waiting, compaction (fewer segments make searches cheaper).
        bool purging = t.purge_search_index(kMergePages);
        if (out->taken == 0 && !purging) t.compact_search_index(kMergePages);
        return error{errc::ok, {}, {}, 0};
      },
      [self = shared_from_this(), out, batch](const error& e) {
        // On the writer thread: back to the indexer's own.
        boost::asio::post(self->io_, [self, out, batch, e] {
          if (e.code != errc::ok) spdlog::warn("event=search_index_failed what=\"{}\"", e.message);
          bool backlog = e.code == errc::ok && out->taken == batch;
          if (e.code == errc::ok)
            self->next_ = next_index_batch(self->next_, out->taken, out->took, kRoundTarget,
                                           std::min(kMinBatch, self->batch_), self->batch_);
          self->schedule(backlog ? std::chrono::milliseconds(0) : self->interval_);
        });
      });
}

}  // namespace parley
