#include "parley/sdk/sequencer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

using namespace parley::sdk;

namespace {
event ev(std::int64_t conv, std::int64_t seq) {
  event e;
  e.conv = conv;
  e.seq = seq;
  e.id = std::to_string(conv) + ":" + std::to_string(seq);
  return e;
}
std::vector<std::int64_t> seqs(const std::vector<event>& v) {
  std::vector<std::int64_t> out;
  for (const auto& e : v) out.push_back(e.seq);
  return out;
}
}  // namespace

TEST(Sequencer, InOrderPassesThroughDuplicatesDropped) {
  sequencer s;
  s.set_position(1, 0);
  EXPECT_EQ(seqs(s.offer(ev(1, 1))), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(seqs(s.offer(ev(1, 2))), (std::vector<std::int64_t>{2}));
  EXPECT_TRUE(s.offer(ev(1, 2)).empty());
  EXPECT_TRUE(s.offer(ev(1, 1)).empty());
  EXPECT_EQ(s.position(1), 2);
}

TEST(Sequencer, EarlyArrivalsAreHeldThenReleasedInOrder) {
  sequencer s;
  s.set_position(1, 3);
  EXPECT_TRUE(s.offer(ev(1, 6)).empty());
  EXPECT_TRUE(s.offer(ev(1, 5)).empty());
  EXPECT_TRUE(s.offer(ev(1, 6)).empty());  // duplicate of a held event
  ASSERT_TRUE(s.gap(1).has_value());
  EXPECT_EQ(*s.gap(1), (std::pair<std::int64_t, std::int64_t>{3, 4}));
  EXPECT_EQ(seqs(s.offer(ev(1, 4))), (std::vector<std::int64_t>{4, 5, 6}));
  EXPECT_FALSE(s.gap(1).has_value());
  EXPECT_EQ(s.held(), 0u);
}

TEST(Sequencer, GapFillFromHistoryCompletesTheSequence) {
  sequencer s;
  s.set_position(7, 10);
  s.offer(ev(7, 15));
  auto g = s.gap(7);
  ASSERT_TRUE(g);
  std::vector<std::int64_t> got;
  // The history page after 10 returns 11..16 (overlapping the held 15).
  for (std::int64_t q = g->first + 1; q <= 16; ++q)
    for (auto& e : s.offer(ev(7, q))) got.push_back(e.seq);
  EXPECT_EQ(got, (std::vector<std::int64_t>{11, 12, 13, 14, 15, 16}));
}

TEST(Sequencer, ConversationsAreIndependentAndUnknownOnesStartAtFirstEvent) {
  sequencer s;
  s.set_position(1, 5);
  EXPECT_EQ(seqs(s.offer(ev(2, 9))), (std::vector<std::int64_t>{9}));  // new conversation
  EXPECT_TRUE(s.offer(ev(1, 7)).empty());
  EXPECT_EQ(seqs(s.offer(ev(2, 10))), (std::vector<std::int64_t>{10}));
  EXPECT_EQ(s.gaps(), (std::vector<std::int64_t>{1}));
}

TEST(Sequencer, HeldEventsAreBounded) {
  sequencer s(3);
  s.set_position(1, 0);
  for (std::int64_t q = 10; q > 4; --q) s.offer(ev(1, q));
  EXPECT_EQ(s.held(), 3u);  // kept the lowest: 5, 6, 7
  EXPECT_EQ(*s.gap(1), (std::pair<std::int64_t, std::int64_t>{0, 4}));
}

TEST(Sequencer, RandomPermutationsWithDuplicatesDeliverExactlyOnceInOrder) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 50; ++round) {
    std::vector<event> input;
    for (std::int64_t q = 1; q <= 100; ++q) {
      input.push_back(ev(3, q));
      if (rng() % 4 == 0) input.push_back(ev(3, q));
    }
    std::shuffle(input.begin(), input.end(), rng);
    sequencer s;
    s.set_position(3, 0);
    std::vector<std::int64_t> got;
    for (auto& e : input)
      for (auto& d : s.offer(e)) got.push_back(d.seq);
    ASSERT_EQ(got.size(), 100u);
    for (std::size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], static_cast<std::int64_t>(i + 1));
  }
}
