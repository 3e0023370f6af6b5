// Event ids: time-ordered, well-formed and unique.
#include <gtest/gtest.h>

#include <set>

#include "core/crypto.hpp"

namespace parley {
namespace {

TEST(TimeOrderedId, IsThirtyTwoHexCharactersStartingWithTheTime) {
  init_crypto();
  auto id = time_ordered_id(0x0123456789ab);
  ASSERT_EQ(id.size(), 32u);
  EXPECT_EQ(id.substr(0, 12), "0123456789ab");
  for (char c : id) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
}

TEST(TimeOrderedId, LaterMillisecondsSortAfterAndIdsDoNotRepeat) {
  init_crypto();
  std::set<std::string> seen;
  std::string prev;
  for (long long ms = 1'764'000'000'000; ms < 1'764'000'000'000 + 3000; ++ms) {
    for (int i = 0; i < 3; ++i) {  // several ids in the same millisecond: still distinct
      auto id = time_ordered_id(ms);
      if (i == 0 && !prev.empty()) {
        EXPECT_LT(prev, id);
      }
      EXPECT_TRUE(seen.insert(id).second) << id;
      prev = id;
    }
  }
  EXPECT_EQ(seen.size(), 9000u);
}

}  // namespace
}  // namespace parley
