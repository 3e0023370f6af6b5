// The recent-events cache: which reads it answers, what it keeps, and its bounds.
#include "store/event_cache.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace parley {
namespace {

event ev(conv_id c, seq_t s, std::string text = "hello") {
  event e;
  e.conv = c;
  e.seq = s;
  e.id = "id-" + std::to_string(c) + "-" + std::to_string(s);
  e.type = "message.created";
  e.sender = 1;
  e.data = "{\"text\":\"" + text + "\"}";
  return e;
}

std::vector<seq_t> seqs(const std::vector<event>& v) {
  std::vector<seq_t> out;
  for (auto& e : v) out.push_back(e.seq);
  return out;
}

std::vector<seq_t> range(seq_t a, seq_t b, seq_t step = 1) {
  std::vector<seq_t> out;
  for (seq_t s = a; step > 0 ? s <= b : s >= b; s += step) out.push_back(s);
  return out;
}

TEST(EventCache, ServesOnlyRangesItHoldsCompletely) {
  event_cache c({10, 1 << 20});
  for (seq_t s = 1; s <= 30; ++s) c.append(ev(7, s));  // keeps 21..30
  std::vector<event> out;
  ASSERT_TRUE(c.read(7, 21, 30, 100, out));
  EXPECT_EQ(seqs(out), range(21, 30));
  out.clear();
  ASSERT_TRUE(c.read(7, 25, 1000, 3, out));  // the limit keeps it inside the cache
  EXPECT_EQ(seqs(out), range(25, 27));
  out.clear();
  EXPECT_FALSE(c.read(7, 20, 30, 100, out));  // 20 was dropped
  EXPECT_FALSE(c.read(7, 28, 31, 100, out));  // 31 may exist in the database
  EXPECT_FALSE(c.read(8, 1, 5, 10, out));     // an unknown conversation
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(c.hits(), 2u);
  EXPECT_EQ(c.misses(), 3u);
  EXPECT_EQ(c.events(), 10);
}

TEST(EventCache, DescendingReadsTheNewestPage) {
  event_cache c({64, 1 << 20});
  for (seq_t s = 1; s <= 100; ++s) c.append(ev(3, s));  // keeps 37..100
  std::vector<event> out;
  ASSERT_TRUE(c.read_desc(3, 1, 100, 51, out));  // newest page of 50, plus one for has_more
  EXPECT_EQ(seqs(out), range(100, 50, -1));
  out.clear();
  ASSERT_TRUE(c.read_desc(3, 1, 60, 10, out));
  EXPECT_EQ(seqs(out), range(60, 51, -1));
  out.clear();
  EXPECT_FALSE(c.read_desc(3, 1, 60, 30, out));   // would need 31..36
  EXPECT_FALSE(c.read_desc(3, 1, 101, 10, out));  // beyond what was committed
  // A conversation shorter than the page is served only if the cache has all of it.
  event_cache d({64, 1 << 20});
  for (seq_t s = 1; s <= 5; ++s) d.append(ev(4, s));
  out.clear();
  ASSERT_TRUE(d.read_desc(4, 1, 5, 51, out));
  EXPECT_EQ(seqs(out), range(5, 1, -1));
}

TEST(EventCache, ContentIsACopyOfTheCommittedEvent) {
  event_cache c({8, 1 << 20});
  auto e = ev(5, 1, "unique text");
  e.client_msg_id = "cm-1";
  e.ts_ms = 123;
  c.append(e);
  std::vector<event> out;
  ASSERT_TRUE(c.read(5, 1, 1, 1, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, e.id);
  EXPECT_EQ(out[0].data, e.data);
  EXPECT_EQ(out[0].client_msg_id, "cm-1");
  EXPECT_EQ(out[0].ts_ms, 123);
}

TEST(EventCache, ANonContiguousAppendStartsANewRun) {
  event_cache c({8, 1 << 20});
  c.append(ev(1, 1));
  c.append(ev(1, 2));
  c.append(ev(1, 5));  // never happens with commit-ordered appends; must stay correct
  std::vector<event> out;
  EXPECT_FALSE(c.read(1, 1, 5, 10, out));
  ASSERT_TRUE(c.read(1, 5, 5, 10, out));
  EXPECT_EQ(seqs(out), std::vector<seq_t>{5});
  EXPECT_EQ(c.events(), 1);
}

TEST(EventCache, InvalidateDropsAConversation) {
  event_cache c({8, 1 << 20});
  for (seq_t s = 1; s <= 4; ++s) c.append(ev(9, s));
  c.invalidate(9);
  std::vector<event> out;
  EXPECT_FALSE(c.read(9, 1, 4, 10, out));
  EXPECT_EQ(c.events(), 0);
  EXPECT_EQ(c.bytes(), 0);
}

TEST(EventCache, ByteBudgetEvictsLeastRecentlyUsedConversations) {
  // 16 shards; conversations 16, 32, 48 share shard 0, whose budget is max_bytes / 16.
  std::size_t one = sizeof(event) + ev(16, 1).id.size() + 15 + ev(16, 1).data.size();
  event_cache c({100, 16 * (one * 25)});  // about 25 events per shard
  for (seq_t s = 1; s <= 10; ++s) c.append(ev(16, s));
  for (seq_t s = 1; s <= 10; ++s) c.append(ev(32, s));
  std::vector<event> out;
  ASSERT_TRUE(c.read(16, 1, 10, 10, out));  // 16 is now more recently used than 32
  for (seq_t s = 1; s <= 10; ++s) c.append(ev(48, s));
  out.clear();
  EXPECT_TRUE(c.read(16, 1, 10, 10, out));
  EXPECT_FALSE(c.read(32, 1, 10, 10, out));  // evicted whole
  EXPECT_TRUE(c.read(48, 1, 10, 10, out));
  EXPECT_LE(c.bytes(), static_cast<std::int64_t>(one * 25));
  EXPECT_EQ(c.events(), 20);
}

TEST(EventCache, ZeroPerConversationTurnsItOff) {
  event_cache c({0, 1 << 20});
  c.append(ev(1, 1));
  std::vector<event> out;
  EXPECT_FALSE(c.read(1, 1, 1, 1, out));
  EXPECT_EQ(c.events(), 0);
}

}  // namespace
}  // namespace parley
