// The page cache layer (store/sqlite/page_cache.hpp): a commit after a rebalance that
// borrowed the lock byte's page number leaves pcache1's truncation alone, and a
// transaction that grew the database and rolled back still drops its pages.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "store/sqlite/page_cache.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

using test::scalar;
using test::temp_db;

void open_log(sqlite::db& d) {
  d.exec("PRAGMA journal_mode = WAL");
  d.exec("PRAGMA synchronous = NORMAL");
  d.exec("CREATE TABLE IF NOT EXISTS log(id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
}

// Appends `per_conv` rows to each of `convs` conversations, one commit per round of one
// row per conversation: each conversation's newest leaf sits between full ones, as the
// events table's do, and splits by rebalancing with its neighbours.
void append_rounds(sqlite::db& d, int convs, int first_seq, int rounds) {
  std::string body(180, 'x');
  auto& ins = d.prepare("INSERT INTO log(id, body) VALUES (?, ?)");
  for (int seq = first_seq; seq < first_seq + rounds; ++seq) {
    d.exec("BEGIN IMMEDIATE");
    for (int c = 1; c <= convs; ++c) {
      ins.bind(1, (std::int64_t{c} << 32) + seq).bind(2, body).run();
      ins.reset();
    }
    d.exec("COMMIT");
  }
}

TEST(PageCache, CommitsAfterRebalancesThroughTheLockPageDoNotTruncate) {
  temp_db t;
  sqlite::db d(t.path(), false);
  ASSERT_TRUE(sqlite::install_page_cache());
  open_log(d);
  auto before = sqlite::page_cache_stats();
  append_rounds(d, 50, 1, 200);
  auto after = sqlite::page_cache_stats();
  // The workload does borrow the lock page's number (so without the layer pcache1 would
  // scan its whole cache at those commits)...
  EXPECT_GT(after.temporary_renames, before.temporary_renames);
  // ...and every commit asked for a truncation, none of which had a page to drop.
  EXPECT_GE(after.truncations - before.truncations, 200u);
  EXPECT_EQ(after.passed_on, before.passed_on);
  EXPECT_EQ(scalar(d, "SELECT count(*) FROM log"), 50 * 200);
  EXPECT_EQ(test::integrity_check(d), "ok");
  // Another connection reads what the writer's cache holds.
  sqlite::db r(t.path(), true);
  EXPECT_EQ(scalar(r, "SELECT count(*) FROM log WHERE id >> 32 = 7"), 200);
  EXPECT_EQ(scalar(r, "SELECT max(id & 4294967295) FROM log WHERE id >> 32 = 50"), 200);
}

TEST(PageCache, ATransactionThatGrewTheDatabaseAndRolledBackDropsItsPages) {
  temp_db t;
  sqlite::db d(t.path(), false);
  open_log(d);
  append_rounds(d, 20, 1, 20);
  auto pages = scalar(d, "PRAGMA page_count");
  auto before = sqlite::page_cache_stats();
  d.exec("BEGIN IMMEDIATE");
  std::string big(3000, 'y');
  auto& ins = d.prepare("INSERT INTO log(id, body) VALUES (?, ?)");
  for (int i = 0; i < 500; ++i) {
    ins.bind(1, (std::int64_t{99} << 32) + i).bind(2, big).run();
    ins.reset();
  }
  EXPECT_GT(scalar(d, "PRAGMA page_count"), pages + 300);
  d.exec("ROLLBACK");
  // Pages past the old end existed: this truncation went to pcache1.
  EXPECT_GT(sqlite::page_cache_stats().passed_on, before.passed_on);
  EXPECT_EQ(scalar(d, "PRAGMA page_count"), pages);
  EXPECT_EQ(scalar(d, "SELECT count(*) FROM log"), 20 * 20);
  EXPECT_EQ(scalar(d, "SELECT count(*) FROM log WHERE id >> 32 = 99"), 0);
  // The pages are reused by the next transaction, whose rows read back whole.
  append_rounds(d, 20, 21, 30);
  EXPECT_EQ(scalar(d, "SELECT count(*) FROM log"), 20 * 50);
  EXPECT_EQ(scalar(d, "SELECT sum(length(body)) FROM log"), std::int64_t{20} * 50 * 180);
  EXPECT_EQ(test::integrity_check(d), "ok");
}

}  // namespace
}  // namespace parley
