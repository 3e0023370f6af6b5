#include "parley/sdk/backoff.hpp"

#include <algorithm>

namespace parley::sdk {

backoff::backoff(backoff_policy p, std::uint64_t seed, clock_fn now)
    : p_(p), rng_(seed), now_(std::move(now)) {}

void backoff::on_connected() {
  connected_at_ = now_();
}

std::chrono::milliseconds backoff::ceiling() const {
  // base * 2^attempt, saturating at cap (and never shifting past 62 bits).
  auto base = static_cast<std::uint64_t>(std::max<std::int64_t>(1, p_.base.count()));
  auto cap = static_cast<std::uint64_t>(std::max<std::int64_t>(1, p_.cap.count()));
  std::uint64_t c = base;
  for (unsigned i = 0; i < attempt_ && c < cap; ++i) c *= 2;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(c, cap)));
}

std::chrono::milliseconds backoff::next_delay() {
  if (connected_at_ && now_() - *connected_at_ >= p_.stable_after) attempt_ = 0;
  connected_at_.reset();
  auto hi = ceiling().count();
  ++attempt_;
  std::uniform_int_distribution<std::int64_t> d(0, hi);
  return std::chrono::milliseconds(d(rng_));
}

}  // namespace parley::sdk
