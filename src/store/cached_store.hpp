// A store that answers event reads from an event_cache when it can and keeps the cache
// filled from its own commits. It wraps any backend (decorator); every other call passes
// through unchanged, so it passes the same conformance suite as the store it wraps.
//
// Write transactions also keep a membership cache (who is in a conversation: the
// recipients of every event, and the membership check of every send), private to the
// writer thread. It holds what the writer's own transaction sees; a membership write
// drops the conversation from it, a job that rolls back drops every conversation it
// wrote, and a batch that fails to commit clears it. It is only right while this writer
// is the database's only one: when other processes write too (PostgreSQL shared by the
// nodes of a cluster), `shared_database` turns it off, since another node may add or
// remove a member at any time and authorization must see that.
#pragma once

#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "store/event_cache.hpp"
#include "store/store.hpp"

namespace parley {

class cached_store final : public store {
 public:
  // `inner` must outlive this object.
  cached_store(store& inner, event_cache::options o, bool shared_database = false);

  void write(write_fn fn, write_done done) override;
  void read(read_fn fn, std::function<void(const error&)> on_error) override;
  void stop() override;

  const event_cache& cache() const { return cache_; }

  // Conversations whose stored events a write has rewritten and whose `done` has not run
  // yet, with the number of such writes (writer thread only).
  using fences = std::unordered_map<conv_id, int>;

  // The writer's membership cache (used on the writer thread only).
  struct members_cache {
    std::unordered_map<conv_id, std::vector<user_id>> ids;                  // active members
    std::map<std::pair<conv_id, user_id>, std::optional<membership>> rows;  // lookups
    std::size_t entries = 0;
    void drop(conv_id c);
    void clear();
  };

 private:
  store& inner_;
  event_cache cache_;
  members_cache members_;
  fences fenced_;
  bool shared_database_;
};

}  // namespace parley
