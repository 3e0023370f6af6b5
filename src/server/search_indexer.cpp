#include "server/search_indexer.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

namespace parley {

namespace {
constexpr std::size_t kMergePages = 256;  // index pages merged per round (purge, compaction)
}  // namespace

search_indexer::search_indexer(boost::asio::io_context& io, store& st,
                               std::chrono::milliseconds interval, std::size_t batch)
    : io_(io), st_(st), interval_(interval), batch_(batch), timer_(io) {}

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
  auto taken = std::make_shared<std::size_t>(0);
  st_.write(
      [taken, batch = batch_](write_txn& t) {
        *taken = t.index_pending(batch);
        // Bounded merge work per round until deleted messages' terms are purged; when
        // nothing was waiting, compaction (fewer segments make searches cheaper).
        bool purging = t.purge_search_index(kMergePages);
        if (*taken == 0 && !purging) t.compact_search_index(kMergePages);
        return error{errc::ok, {}, {}, 0};
      },
      [self = shared_from_this(), taken](const error& e) {
        // On the writer thread: back to the indexer's own.
        boost::asio::post(self->io_, [self, taken, e] {
          if (e.code != errc::ok) spdlog::warn("event=search_index_failed what=\"{}\"", e.message);
          bool backlog = e.code == errc::ok && *taken == self->batch_;
          self->schedule(backlog ? std::chrono::milliseconds(0) : self->interval_);
        });
      });
}

}  // namespace parley
