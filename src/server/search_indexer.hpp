// Moves newly stored messages into the search index in batches (store::index_pending) on
// the store's writer: every `interval`, and again at once while a full batch came back.
// Batching makes one FTS5 segment per batch instead of one per group commit. A message is
// found by search once indexed, so within about `interval` of being stored; what was not
// indexed before a stop stays queued in the database and is indexed after the restart.
// Each round also merges a bounded number of index pages while deleted messages' terms
// wait to be purged (store::purge_search_index), so a delete leaves the index within
// about (index pages / 256) rounds. A round that found nothing to index compacts the index
// instead (store::compact_search_index), also 256 pages at most.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

#include "store/store.hpp"

namespace parley {

class search_indexer : public std::enable_shared_from_this<search_indexer> {
 public:
  search_indexer(boost::asio::io_context& io, store& st, std::chrono::milliseconds interval,
                 std::size_t batch);
  // Starts the rounds (call once, on a shared_ptr).
  void start();

 private:
  void schedule(std::chrono::milliseconds delay);
  void round();

  boost::asio::io_context& io_;
  store& st_;
  std::chrono::milliseconds interval_;
  std::size_t batch_;
  boost::asio::steady_timer timer_;
};

}  // namespace parley
