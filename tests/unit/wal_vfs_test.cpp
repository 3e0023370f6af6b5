// The WAL-coalescing VFS (store/sqlite/wal_vfs.hpp): a commit's frames reach the WAL in a
// few large writes, every commit is visible to another connection as soon as it returns,
// and what was committed survives a process that dies without closing the database.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/wal_vfs.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

using test::temp_db;

void open_wal(sqlite::db& d, const char* synchronous) {
  d.exec("PRAGMA journal_mode = WAL");
  d.exec(std::string("PRAGMA synchronous = ") + synchronous);
  d.exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
}

void insert_rows(sqlite::db& d, int first, int count, std::size_t bytes) {
  std::string body(bytes, 'x');
  auto& ins = d.prepare("INSERT INTO t(id, body) VALUES (?, ?)");
  for (int i = first; i < first + count; ++i) {
    ins.bind(1, std::int64_t{i}).bind(2, body).run();
    ins.reset();
  }
}

TEST(WalVfs, ACommitOfManyPagesIsWrittenInFewWrites) {
  temp_db path;
  auto start = sqlite::wal_vfs_stats();
  sqlite::db d(path.path(), false);
  open_wal(d, "FULL");
  d.exec("PRAGMA wal_autocheckpoint = 0");  // the WAL only grows in this test
  // The first commit grew the file with zeros ahead of its frames: 256 KiB beyond them.
  EXPECT_GT(sqlite::wal_vfs_stats().zero_writes, start.zero_writes);
  auto grown = std::filesystem::file_size(path.path() + "-wal");
  EXPECT_GE(grown, 256u << 10);
  EXPECT_LT(grown, 512u << 10);
  // A commit of a few pages (about 30 KiB of frames) goes into those zeros: no growth.
  auto small = sqlite::wal_vfs_stats();
  d.exec("BEGIN IMMEDIATE");
  insert_rows(d, 100000, 20, 1000);
  d.exec("COMMIT");
  EXPECT_EQ(sqlite::wal_vfs_stats().zero_writes, small.zero_writes);
  EXPECT_EQ(std::filesystem::file_size(path.path() + "-wal"), grown);
  auto before = sqlite::wal_vfs_stats();
  d.exec("BEGIN IMMEDIATE");
  insert_rows(d, 1, 2000, 1000);  // about 500 pages of 4 KiB, two appends per frame
  d.exec("COMMIT");
  auto after = sqlite::wal_vfs_stats();
  auto appends = after.appends - before.appends;
  auto writes = after.file_writes - before.file_writes;
  EXPECT_GE(appends, 1000u);
  // About 2 MiB in pieces of 124 KiB: 17 writes, not 1,000.
  EXPECT_LE(writes, 40u) << appends << " appends";
  EXPECT_EQ(test::scalar(d, "SELECT count(*) FROM t"), 2020);
  // Those 2 MiB of frames went past the zeros: the file grew again, and ends exactly one
  // step (256 KiB) beyond the last frame (a 32-byte header, then frames of 24 + 4096).
  EXPECT_GT(after.zero_writes, before.zero_writes);
  auto frames_end = std::filesystem::file_size(path.path() + "-wal") - (256u << 10);
  EXPECT_GE(frames_end, 2u << 20);
  EXPECT_EQ((frames_end - 32) % (24 + 4096), 0u) << frames_end;
}

// Another connection reads the WAL through its own file: a commit must be in the file
// before SQLite publishes it, with and without an fsync per commit.
void every_commit_is_visible_to_a_reader(const char* synchronous) {
  temp_db path;
  sqlite::db w(path.path(), false);
  open_wal(w, synchronous);
  sqlite::db r(path.path(), true);
  for (int i = 0; i < 300; ++i) {
    w.exec("BEGIN IMMEDIATE");
    insert_rows(w, i * 7 + 1, 7, 600);
    w.exec("COMMIT");
    ASSERT_EQ(test::scalar(r, "SELECT count(*) FROM t"), (i + 1) * 7) << "commit " << i;
    auto& q = r.prepare("SELECT length(body) FROM t WHERE id = ?");
    q.bind(1, std::int64_t{i * 7 + 7});
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.i64(0), 600);
    q.reset();
  }
  w.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  EXPECT_EQ(test::scalar(r, "SELECT count(*) FROM t"), 2100);
}

TEST(WalVfs, EveryCommitIsVisibleToAnotherConnectionWithFullSync) {
  every_commit_is_visible_to_a_reader("FULL");
}

TEST(WalVfs, EveryCommitIsVisibleToAnotherConnectionWithNormalSync) {
  every_commit_is_visible_to_a_reader("NORMAL");
}

TEST(WalVfs, CommitsSurviveAProcessThatDiesWithoutClosing) {
  temp_db path;
  {
    sqlite::db d(path.path(), false);
    open_wal(d, "NORMAL");
  }
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A new connection in the child: commit, leave one transaction unfinished, and die.
    try {
      sqlite::db d(path.path(), false);
      d.exec("PRAGMA synchronous = NORMAL");
      d.exec("PRAGMA wal_autocheckpoint = 0");
      for (int i = 0; i < 50; ++i) {
        d.exec("BEGIN IMMEDIATE");
        insert_rows(d, i * 10 + 1, 10, 900);
        d.exec("COMMIT");
      }
      d.exec("BEGIN IMMEDIATE");
      insert_rows(d, 100000, 3000, 900);  // spills frames to the WAL, never committed
      ::_exit(0);
    } catch (...) {
      ::_exit(3);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  sqlite::db d(path.path(), false);
  EXPECT_EQ(test::scalar(d, "SELECT count(*) FROM t"), 500);
  EXPECT_EQ(test::integrity_check(d), "ok");
}

}  // namespace
}  // namespace parley
