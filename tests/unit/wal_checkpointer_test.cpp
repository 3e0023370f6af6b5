// The background WAL checkpointer (store/sqlite/wal_checkpointer.hpp): under steady writes
// the WAL still starts again from its beginning, nothing is lost, a checkpoint never
// starts before a write that began after the last one (the rule that keeps SQLite 3.40's
// WAL-reset race away), and the writer waits only for the held checkpoint.
#include "store/sqlite/wal_checkpointer.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/crypto.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit_support.hpp"

namespace parley::sqlite {
namespace {

using namespace std::chrono_literals;

int note_frames(void* arg, sqlite3*, const char*, int frames) {
  *static_cast<int*>(arg) = frames;
  return SQLITE_OK;
}

// Checkpoints that wait at their start until the test lets them go, counted.
class gate {
 public:
  std::function<void()> fn() {
    return [this] {
      std::unique_lock lk(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lk, [&] { return open_ || released_ >= entered_; });
    };
  }
  bool wait_entered(int n, std::chrono::milliseconds limit = test::kWaitLimit) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return entered_ >= n; });
  }
  void release_one() {
    std::lock_guard lk(mu_);
    ++released_;
    cv_.notify_all();
  }
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int entered() {
    std::lock_guard lk(mu_);
    return entered_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  int released_ = 0;
  bool open_ = false;
};

void open_wal(db& d) {
  d.exec("PRAGMA journal_mode = WAL");
  d.exec("PRAGMA synchronous = NORMAL");
  d.exec("PRAGMA wal_autocheckpoint = 0");
  d.exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
}

bool wait_checkpoints(const wal_checkpointer& c, std::uint64_t n) {
  auto until = std::chrono::steady_clock::now() + test::kWaitLimit;
  while (c.get_stats().checkpoints < n) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(WalCheckpointer, TheWalStartsAgainUnderSteadyWritesAndNothingIsLost) {
  test::temp_db path;
  constexpr int kWrites = 3000;
  int resets = 0;
  int most_frames = 0;
  {
    db w(path.path(), false);
    open_wal(w);
    int frames = -1;
    sqlite3_wal_hook(w.handle(), note_frames, &frames);
    wal_checkpointer ckpt(path.path(), 16);
    // A reader takes short snapshots all along (a snapshot keeps its frames from being
    // copied, and so the WAL from starting again, while it lasts).
    std::atomic<bool> done{false};
    std::atomic<std::int64_t> reads{0};
    std::thread reader([&] {
      db r(path.path(), true);
      while (!done) {
        r.exec("BEGIN");
        auto n = test::scalar(r, "SELECT count(*) FROM t WHERE id > (SELECT max(id) - 10 FROM t)");
        r.exec("COMMIT");
        if (n < 0) break;
        ++reads;
        std::this_thread::sleep_for(200us);
      }
    });
    std::string body(1500, 'x');
    auto& ins = w.prepare("INSERT INTO t(id, body) VALUES (?, ?)");
    int last = 0;
    int no_frames = 0;
    int appended = 0;  // frames written over the whole run
    for (int i = 1; i <= kWrites; ++i) {
      ckpt.begin_write();
      frames = -1;
      w.exec("BEGIN IMMEDIATE");
      ins.bind(1, std::int64_t{i}).bind(2, body).run();
      ins.reset();
      w.exec("COMMIT");
      ckpt.end_write(frames);
      if (frames <= 0) ++no_frames;
      if (frames < last) ++resets;
      appended += frames < last ? frames : frames - last;
      last = frames;
      most_frames = std::max(most_frames, frames);
    }
    done = true;
    reader.join();
    auto s = ckpt.get_stats();
    ckpt.stop();
    EXPECT_EQ(no_frames, 0) << "a commit reported no WAL frames";
    EXPECT_GT(reads.load(), 0);
    EXPECT_EQ(s.failed, 0u);
    EXPECT_GE(s.checkpoints, 10u);
    EXPECT_GE(s.backfilled, 1u);
    EXPECT_EQ(static_cast<std::uint64_t>(most_frames), s.max_frames);
    // Without the checkpoints that complete with the writer held out, the WAL would only
    // grow, to every frame written.
    EXPECT_GE(resets, 3) << "the WAL rarely started again (" << resets << " times); it grew to "
                         << most_frames << " of " << appended << " frames written; checkpoints "
                         << s.checkpoints << ", held " << s.held << ", backfilled " << s.backfilled;
  }
  // Everything is there, and the database is intact.
  db d(path.path(), false);
  EXPECT_EQ(test::scalar(d, "SELECT count(*) FROM t"), kWrites);
  EXPECT_EQ(test::scalar(d, "SELECT sum(id) FROM t"), std::int64_t{kWrites} * (kWrites + 1) / 2);
  EXPECT_EQ(test::integrity_check(d), "ok");
}

// A process that dies while it writes and checkpoints (a checkpoint runs almost all the
// time with 16 pages) leaves an intact database holding every commit that returned.
TEST(WalCheckpointer, AProcessThatDiesWhileCheckpointingLosesNoCommit) {
  for (int lifetime_ms : {20, 60, 150}) {
    test::temp_db path;
    {
      db d(path.path(), false);
      open_wal(d);
    }
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      try {
        db w(path.path(), false);
        w.exec("PRAGMA synchronous = NORMAL");
        int frames = -1;
        sqlite3_wal_hook(w.handle(), note_frames, &frames);
        wal_checkpointer ckpt(path.path(), 16);
        std::string body(1500, 'x');
        auto& ins = w.prepare("INSERT INTO t(id, body) VALUES (?, ?)");
        for (std::int64_t i = 1;; ++i) {
          ckpt.begin_write();
          frames = -1;
          w.exec("BEGIN IMMEDIATE");
          ins.bind(1, i).bind(2, body).run();
          ins.reset();
          w.exec("COMMIT");
          ckpt.end_write(frames);
          if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(4);
          if (i == 1)  // the process lives this long after its first commit
            std::thread([lifetime_ms] {
              std::this_thread::sleep_for(std::chrono::milliseconds(lifetime_ms));
              ::_exit(0);  // no close, no clean-up: mid-commit or mid-checkpoint
            }).detach();
        }
      } catch (...) {
        ::_exit(3);
      }
    }
    ::close(fds[1]);
    std::int64_t id = 0;
    std::int64_t last_acked = 0;
    while (::read(fds[0], &id, sizeof id) == sizeof id) last_acked = id;
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT_GT(last_acked, 0);
    db d(path.path(), false);
    // Every commit that returned, and at most the one under way when the process died.
    auto rows = test::scalar(d, "SELECT count(*) FROM t");
    EXPECT_GE(rows, last_acked) << "after " << lifetime_ms << " ms";
    EXPECT_LE(rows, last_acked + 1);
    EXPECT_EQ(test::scalar(d, "SELECT max(id) FROM t"), rows);
    EXPECT_EQ(test::integrity_check(d), "ok");
  }
}

// A database in WAL mode and a checkpointer of 8 pages (a checkpoint at 8 frames, a held
// one from 32) whose checkpoints wait for the test at their start. The tests play the
// writer with made-up frame counts.
class GatedCheckpointer : public ::testing::Test {
 protected:
  void SetUp() override {
    w_ = std::make_unique<db>(path_.path(), false);
    open_wal(*w_);
    w_->exec("INSERT INTO t(id, body) VALUES (1, 'x')");
    ckpt_ = std::make_unique<wal_checkpointer>(path_.path(), 8, g.fn());
  }
  void TearDown() override {
    g.open();
    ckpt_->stop();
  }

  test::temp_db path_;
  std::unique_ptr<db> w_;
  gate g;
  std::unique_ptr<wal_checkpointer> ckpt_;
};

TEST_F(GatedCheckpointer, NoCheckpointStartsBeforeAWriteThatBeganAfterTheLastOne) {
  auto& ckpt = *ckpt_;
  ckpt.begin_write();
  ckpt.end_write(10);  // the first write: a checkpoint is due
  ASSERT_TRUE(g.wait_entered(1));
  // A write that begins while the checkpoint runs, and ends after it: the checkpoint may
  // have backfilled the WAL before this write's snapshot, so this write may reset it.
  ckpt.begin_write();
  g.release_one();
  ASSERT_TRUE(wait_checkpoints(ckpt, 1));
  ckpt.end_write(20);
  EXPECT_FALSE(g.wait_entered(2, 300ms)) << "a checkpoint started before a later write";
  // A write that began after the checkpoint ended: the next checkpoint may start.
  ckpt.begin_write();
  ckpt.end_write(30);
  EXPECT_TRUE(g.wait_entered(2));
}

TEST_F(GatedCheckpointer, TheWriterWaitsOnlyWhileAHeldCheckpointRuns) {
  auto& ckpt = *ckpt_;
  ckpt.begin_write();
  ckpt.end_write(40);  // the WAL is long (32 frames and more)
  ASSERT_TRUE(g.wait_entered(1));
  // While the first checkpoint runs the writer writes on, and appends; its next write is
  // still under way when the checkpoint ends.
  ckpt.begin_write();
  ckpt.end_write(41);
  ckpt.begin_write();
  g.release_one();
  // Frames were appended while it ran: a second checkpoint, with the writer held out, which
  // waits for the write under way.
  EXPECT_FALSE(g.wait_entered(2, 300ms)) << "the held checkpoint began during a write";
  ckpt.end_write(42);
  ASSERT_TRUE(g.wait_entered(2));
  auto began = std::async(std::launch::async, [&] { ckpt.begin_write(); });
  EXPECT_EQ(began.wait_for(300ms), std::future_status::timeout)
      << "the writer began during the held checkpoint";
  g.open();  // (also if the write never begins: the future's destructor waits for it)
  ASSERT_EQ(began.wait_for(test::kWaitLimit), std::future_status::ready);
  ckpt.end_write(-1);
  auto s = ckpt.get_stats();
  EXPECT_EQ(s.checkpoints, 2u);
  EXPECT_EQ(s.held, 1u);
}

// A write that began after a checkpoint but rolled back (no frames) does not let the next
// checkpoint start: the WAL may still be backfilled for the write after it.
TEST_F(GatedCheckpointer, ARolledBackWriteDoesNotLetACheckpointStart) {
  auto& ckpt = *ckpt_;
  ckpt.begin_write();
  ckpt.end_write(10);
  ASSERT_TRUE(g.wait_entered(1));
  g.release_one();
  ASSERT_TRUE(wait_checkpoints(ckpt, 1));
  ckpt.begin_write();
  ckpt.end_write(-1);  // rolled back
  ckpt.begin_write();
  ckpt.end_write(-1);
  EXPECT_FALSE(g.wait_entered(2, 300ms)) << "a checkpoint started after writes of nothing";
  ckpt.begin_write();
  ckpt.end_write(30);
  EXPECT_TRUE(g.wait_entered(2));
}

TEST(WalCheckpointer, TheStoreCheckpointsBesideItsWriter) {
  init_crypto();
  test::temp_db path;
  constexpr int kUsers = 400;
  {
    sqlite_options o;
    o.path = path.path();
    o.checkpoint_pages = 4;
    sqlite_store st(o);
    // In rounds of 10, each waited for: many commits.
    std::atomic<int> failed{0};
    for (int round = 0; round < kUsers / 10; ++round) {
      test::countdown written(10);
      for (int i = round * 10; i < round * 10 + 10; ++i)
        st.write(
            [i](write_txn& t) -> error {
              auto r = t.insert_user("user" + std::to_string(i), std::string(400, 'h'), 1);
              return r ? error{errc::ok, {}, {}, 0} : r.err();
            },
            [&](const error& e) {
              if (e.code != errc::ok) ++failed;
              written.hit();
            });
      ASSERT_TRUE(written.wait());
    }
    EXPECT_EQ(failed.load(), 0);
    auto until = std::chrono::steady_clock::now() + test::kWaitLimit;
    while (st.checkpoints().checkpoints == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
    auto s = st.checkpoints();
    EXPECT_GE(s.checkpoints, 1u);
    EXPECT_EQ(s.failed, 0u);
    st.stop();
  }
  db d(path.path(), false);
  EXPECT_EQ(test::scalar(d, "SELECT count(*) FROM users WHERE handle LIKE 'user%'"), kUsers);
  EXPECT_EQ(test::integrity_check(d), "ok");
}

}  // namespace
}  // namespace parley::sqlite
