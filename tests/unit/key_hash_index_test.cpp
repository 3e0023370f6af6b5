// key_hash_index against std::unordered_multimap: random inserts and erases, with hashes
// drawn from a small range so that equal hashes, long probe runs and wrapping runs occur.
#include "store/sqlite/key_hash_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <unordered_map>
#include <vector>

namespace parley {
namespace {

std::vector<std::int64_t> values_of(const sqlite::key_hash_index& ix, std::uint64_t h) {
  std::vector<std::int64_t> out;
  ix.find(h, [&](std::int64_t v) {
    out.push_back(v);
    return false;
  });
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> values_of(const std::unordered_multimap<std::uint64_t, std::int64_t>& m,
                                    std::uint64_t h) {
  std::vector<std::int64_t> out;
  auto [b, e] = m.equal_range(h);
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(KeyHashIndex, MatchesAMultimapThroughInsertsAndErases) {
  for (std::uint64_t range : {7ULL, 300ULL, 1ULL << 62}) {
    std::mt19937_64 rng(range);
    sqlite::key_hash_index ix;
    std::unordered_multimap<std::uint64_t, std::int64_t> model;
    std::vector<std::pair<std::uint64_t, std::int64_t>> present;
    int ops = range < 100 ? 2000 : 20000;  // few hashes make every probe run long
    for (int op = 0; op < ops; ++op) {
      if (present.empty() || rng() % 3 != 0) {
        std::uint64_t h = rng() % range;
        std::int64_t v = static_cast<std::int64_t>(rng() % 5);
        ix.insert(h, v);
        model.emplace(h, v);
        present.emplace_back(h, v);
      } else {
        auto i = rng() % present.size();
        auto [h, v] = present[i];
        present[i] = present.back();
        present.pop_back();
        ASSERT_TRUE(ix.erase(h, v));
        auto [b, e] = model.equal_range(h);
        for (auto it = b; it != e; ++it) {
          if (it->second == v) {
            model.erase(it);
            break;
          }
        }
        EXPECT_FALSE(ix.erase(h, 99));  // never inserted
      }
      ASSERT_EQ(ix.size(), model.size());
      if (op % 97 == 0) {
        for (std::uint64_t h = 0; h < std::min<std::uint64_t>(range, 400); ++h)
          ASSERT_EQ(values_of(ix, h), values_of(model, h)) << "range " << range << " op " << op;
        for (const auto& [h, v] : present) ASSERT_EQ(values_of(ix, h), values_of(model, h));
      }
    }
    // Stopping early: the first value found ends the search.
    if (!present.empty()) {
      int calls = 0;
      ix.find(present.front().first, [&](std::int64_t) { return ++calls > 0; });
      EXPECT_EQ(calls, 1);
    }
  }
}

}  // namespace
}  // namespace parley
