// Token buckets (core/rate_limiter.hpp): bursts, refill, the wait it reports, refunds,
// independence of keys and classes, and the bound on memory.
#include "core/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <string>

namespace parley {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

rate_limiter::rules rules_with(rate_class c, double per_s, double burst) {
  rate_limiter::rules r{};
  r[static_cast<std::size_t>(c)] = {per_s, burst};
  return r;
}

TEST(RateLimiter, ABurstThenTheSteadyRateWithTheWaitToldExactly) {
  rate_limiter lim(rules_with(rate_class::write, 10, 5));
  auto t = clock_type::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(lim.take(rate_class::write, "7", t), 0) << i;
  EXPECT_EQ(lim.take(rate_class::write, "7", t), 100) << "one token in 1/10 s";
  EXPECT_EQ(lim.take(rate_class::write, "7", t + 50ms), 50);
  EXPECT_EQ(lim.take(rate_class::write, "7", t + 100ms), 0);
  EXPECT_GT(lim.take(rate_class::write, "7", t + 100ms), 0);
  // Refill never exceeds the burst.
  auto later = t + 1h;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(lim.take(rate_class::write, "7", later), 0);
  EXPECT_GT(lim.take(rate_class::write, "7", later), 0);
}

TEST(RateLimiter, KeysAndClassesAreIndependentAndUnlimitedClassesAreFree) {
  auto r = rules_with(rate_class::write, 1, 1);
  r[static_cast<std::size_t>(rate_class::search)] = {1, 1};
  rate_limiter lim(r);
  auto t = clock_type::now();
  EXPECT_EQ(lim.take(rate_class::write, "1", t), 0);
  EXPECT_GT(lim.take(rate_class::write, "1", t), 0);
  EXPECT_EQ(lim.take(rate_class::write, "2", t), 0) << "another user";
  EXPECT_EQ(lim.take(rate_class::search, "1", t), 0) << "another class";
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lim.take(rate_class::typing, "1", t), 0) << "no rule";
}

TEST(RateLimiter, ARefundGivesATokenBackUpToTheBurst) {
  rate_limiter lim(rules_with(rate_class::write, 1, 2));
  auto t = clock_type::now();
  EXPECT_EQ(lim.take(rate_class::write, "u", t), 0);
  EXPECT_EQ(lim.take(rate_class::write, "u", t), 0);
  EXPECT_GT(lim.take(rate_class::write, "u", t), 0);
  lim.refund(rate_class::write, "u");
  EXPECT_EQ(lim.take(rate_class::write, "u", t), 0);
  lim.refund(rate_class::write, "u");
  lim.refund(rate_class::write, "u");
  lim.refund(rate_class::write, "u");
  EXPECT_EQ(lim.take(rate_class::write, "u", t), 0);
  EXPECT_EQ(lim.take(rate_class::write, "u", t), 0);
  EXPECT_GT(lim.take(rate_class::write, "u", t), 0) << "refunds stop at the burst";
}

TEST(RateLimiter, MemoryIsBoundedAndFullBucketsAreForgottenFirst) {
  rate_limiter lim(rules_with(rate_class::auth_address, 1, 3), 16 * 64);
  auto t = clock_type::now();
  // A busy key that is empty must survive the cleanup that many one-off keys cause.
  for (int i = 0; i < 3; ++i) lim.take(rate_class::auth_address, "busy", t);
  for (int i = 0; i < 20000; ++i)
    lim.take(rate_class::auth_address, "10.0." + std::to_string(i), t + std::chrono::seconds(10));
  EXPECT_LE(lim.keys(), 16u * 64u);
  // Ten seconds refilled the busy key too (it is full, so it was forgotten: the same).
  EXPECT_EQ(lim.take(rate_class::auth_address, "busy", t + 10s), 0);
}

TEST(RateLimiter, AConnectionsOwnBucket) {
  token_bucket b(2, 3);
  auto t = clock_type::now();
  EXPECT_EQ(b.take(t), 0);
  EXPECT_EQ(b.take(t), 0);
  EXPECT_EQ(b.take(t), 0);
  EXPECT_EQ(b.take(t), 500);
  EXPECT_EQ(b.take(t + 500ms), 0);
}

}  // namespace
}  // namespace parley
