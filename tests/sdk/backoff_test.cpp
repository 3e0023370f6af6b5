#include "parley/sdk/backoff.hpp"

#include <gtest/gtest.h>

using namespace parley::sdk;
using namespace std::chrono_literals;

namespace {
struct fake_clock {
  std::chrono::steady_clock::time_point t{};
  backoff::clock_fn fn() {
    return [this] { return t; };
  }
};
}  // namespace

TEST(Backoff, CeilingDoublesUpToTheCap) {
  fake_clock clk;
  backoff b({100ms, 1000ms, 10s}, 42, clk.fn());
  std::vector<long> ceilings;
  for (int i = 0; i < 7; ++i) {
    ceilings.push_back(b.ceiling().count());
    auto d = b.next_delay();
    EXPECT_GE(d.count(), 0);
    EXPECT_LE(d.count(), ceilings.back()) << "full jitter stays within [0, ceiling]";
  }
  EXPECT_EQ(ceilings, (std::vector<long>{100, 200, 400, 800, 1000, 1000, 1000}));
}

TEST(Backoff, FullJitterSpreadsOverTheWholeRange) {
  fake_clock clk;
  backoff b({1000ms, 1000ms, 10s}, 7, clk.fn());
  long lo = 1000, hi = 0;
  double sum = 0;
  for (int i = 0; i < 2000; ++i) {
    auto d = b.next_delay().count();
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    sum += static_cast<double>(d);
  }
  EXPECT_LT(lo, 50);
  EXPECT_GT(hi, 950);
  EXPECT_NEAR(sum / 2000, 500, 40);
}

TEST(Backoff, ResetsOnlyAfterAStableConnection) {
  fake_clock clk;
  backoff b({100ms, 10s, 5s}, 1, clk.fn());
  for (int i = 0; i < 4; ++i) b.next_delay();
  EXPECT_EQ(b.attempt(), 4u);
  // Connected, but dropped after 1 s: not stable, keep backing off.
  b.on_connected();
  clk.t += 1s;
  b.next_delay();
  EXPECT_EQ(b.attempt(), 5u);
  // Connected for 5 s: the schedule starts again.
  b.on_connected();
  clk.t += 5s;
  EXPECT_LE(b.next_delay().count(), 100);
  EXPECT_EQ(b.attempt(), 1u);
}

TEST(Backoff, SameSeedSameSchedule) {
  fake_clock clk;
  backoff a({100ms, 5s, 5s}, 99, clk.fn()), b({100ms, 5s, 5s}, 99, clk.fn());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.next_delay(), b.next_delay());
}
