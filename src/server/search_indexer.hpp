// Moves newly stored messages into the search index in batches (store::index_pending) on
// the store's writer: every `interval`, and again at once while a full batch came back.
// Batching makes one FTS5 segment per batch instead of one per group commit. A message is
// found by search once indexed, so within about `interval` of being stored; what was not
// indexed before a stop stays queued in the database and is indexed after the restart.
// Each round also merges a bounded number of index pages while deleted messages' terms
// wait to be purged (store::purge_search_index), so a delete leaves the index within
// about (index pages / 256) rounds. A round that found nothing to index compacts the index
// instead (store::compact_search_index), also 256 pages at most.
//
// A round is one write on the store's writer, inside the group commit of whatever sends
// are queued with it, so its length is their latency too: the batch adapts so that a
// round takes about kRoundTarget (next_index_batch), between kMinBatch and `batch`.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

#include "store/store.hpp"

namespace parley {

// How many messages the next round takes: as many as the last round's rate (`taken` in
// `took`) indexes in `target`, within [min, max]. Unchanged when the last round measured
// nothing (took nothing, or no time).
std::size_t next_index_batch(std::size_t current, std::size_t taken, std::chrono::microseconds took,
                             std::chrono::microseconds target, std::size_t min, std::size_t max);

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
  std::size_t batch_;  // the largest batch
  std::size_t next_;   // the next round's batch
  boost::asio::steady_timer timer_;
};

}  // namespace parley
