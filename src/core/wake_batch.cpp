#include "core/wake_batch.hpp"

#include <utility>
#include <vector>

namespace parley {

namespace {
thread_local int depth = 0;
thread_local std::vector<std::function<void()>> pending;
}  // namespace

wake_batch::wake_batch() {
  ++depth;
}

wake_batch::~wake_batch() {
  if (--depth > 0) return;
  // A wake-up may open a scope of its own; it starts from an empty list.
  auto wakes = std::move(pending);
  pending.clear();
  for (auto& w : wakes) w();
}

bool wake_batch::defer(std::function<void()> wake) {
  if (depth == 0) return false;
  pending.push_back(std::move(wake));
  return true;
}

}  // namespace parley
