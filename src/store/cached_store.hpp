// A store that answers event reads from an event_cache when it can and keeps the cache
// filled from its own commits. It wraps any backend (decorator); every other call passes
// through unchanged, so it passes the same conformance suite as the store it wraps.
#pragma once

#include <memory>

#include "store/event_cache.hpp"
#include "store/store.hpp"

namespace parley {

class cached_store final : public store {
 public:
  // `inner` must outlive this object.
  cached_store(store& inner, event_cache::options o);

  void write(write_fn fn, write_done done) override;
  void read(read_fn fn, std::function<void(const error&)> on_error) override;
  void stop() override;

  const event_cache& cache() const { return cache_; }

 private:
  store& inner_;
  event_cache cache_;
};

}  // namespace parley
