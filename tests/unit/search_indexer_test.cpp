// The search indexer's batch size: rounds aim at a fixed time on the writer.
#include "server/search_indexer.hpp"

#include <gtest/gtest.h>

namespace parley {
namespace {

using us = std::chrono::microseconds;

TEST(SearchIndexerBatch, FollowsTheLastRoundsRateTowardTheTargetTime) {
  // 1,000 messages in 8 ms: 250 fit in 2 ms.
  EXPECT_EQ(next_index_batch(1000, 1000, us(8000), us(2000), 64, 2000), 250u);
  // 100 in 0.1 ms: 2,000 fit.
  EXPECT_EQ(next_index_batch(100, 100, us(100), us(2000), 64, 2000), 2000u);
}

TEST(SearchIndexerBatch, StaysWithinItsBounds) {
  EXPECT_EQ(next_index_batch(500, 500, us(1), us(2000), 64, 2000), 2000u);
  EXPECT_EQ(next_index_batch(500, 500, us(100000), us(2000), 64, 2000), 64u);
}

TEST(SearchIndexerBatch, ARoundThatMeasuredNothingChangesNothing) {
  EXPECT_EQ(next_index_batch(300, 0, us(50), us(2000), 64, 2000), 300u);
  EXPECT_EQ(next_index_batch(300, 10, us(0), us(2000), 64, 2000), 300u);
}

}  // namespace
}  // namespace parley
