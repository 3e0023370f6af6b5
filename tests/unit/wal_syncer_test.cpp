// The background flush of the WAL (wal_syncer) and what sqlite_store with synchronous
// "full" builds on it: an acknowledgement, and a read that may see a commit, wait for the
// flush that makes the commit durable.
#include "store/sqlite/wal_syncer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "core/crypto.hpp"
#include "core/wake_batch.hpp"
#include "store/cached_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit_support.hpp"

namespace parley::sqlite {
namespace {

using namespace std::chrono_literals;

template <class T>
error ok_or_error(const result<T>& r) {
  return r ? error{errc::ok, {}, {}, 0} : r.err();
}

// A flush that blocks until the test lets it return, counting the flushes started.
class gated_flush {
 public:
  wal_syncer::flush_fn fn() {
    return [this] {
      std::unique_lock lk(mu_);
      ++started_;
      cv_.notify_all();
      cv_.wait(lk, [&] { return open_ || released_ >= started_; });
      return true;
    };
  }
  // Flushes started from now on block again.
  void close() {
    std::lock_guard lk(mu_);
    open_ = false;
    released_ = started_;
  }
  // Waits until `n` flushes have started.
  bool wait_started(int n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, test::kWaitLimit, [&] { return started_ >= n; });
  }
  void release_one() {
    std::lock_guard lk(mu_);
    ++released_;
    cv_.notify_all();
  }
  void release_all() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int started() {
    std::lock_guard lk(mu_);
    return started_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  int released_ = 0;
  bool open_ = false;
};

TEST(WalSyncer, ACommitIsDurableOnlyAfterAFlushThatStartedAfterIt) {
  gated_flush gate;
  std::atomic<int> advances{0};
  wal_syncer s(gate.fn(), [&] { ++advances; });
  auto t1 = s.begin_commit();
  EXPECT_EQ(s.latest(), t1);
  s.end_commit(t1);
  ASSERT_TRUE(gate.wait_started(1));
  // Two more commits end while the first flush is running: it does not cover them.
  auto t2 = s.begin_commit();
  s.end_commit(t2);
  auto t3 = s.begin_commit();
  s.end_commit(t3);
  EXPECT_EQ(s.durable(), 0u);
  gate.release_one();
  ASSERT_TRUE(gate.wait_started(2));
  EXPECT_EQ(s.durable(), t1);
  // One flush covers both.
  gate.release_one();
  s.wait_durable(t3);
  EXPECT_EQ(s.durable(), t3);
  EXPECT_EQ(gate.started(), 2);
  s.stop();
  EXPECT_EQ(advances.load(), 2);
}

TEST(WalSyncer, StopFlushesWhatWasHandedBackAndEndsTheWaits) {
  gated_flush gate;
  gate.release_all();
  wal_syncer s(gate.fn(), {});
  auto t1 = s.begin_commit();
  s.end_commit(t1);
  auto never_ended = s.begin_commit();
  auto waiter = std::async(std::launch::async, [&] { s.wait_durable(never_ended); });
  s.stop();
  ASSERT_EQ(waiter.wait_for(test::kWaitLimit), std::future_status::ready);
  EXPECT_EQ(s.durable(), t1);
}

TEST(WalSyncer, FlushesTheWalFileByPathAndFailsWithoutIt) {
  test::temp_db db;
  auto missing = wal_syncer::fdatasync_of(db.path() + "-wal");
  EXPECT_FALSE(missing());
  { std::ofstream(db.path() + "-wal") << "frames"; }
  auto flush = wal_syncer::fdatasync_of(db.path() + "-wal");
  EXPECT_TRUE(flush());
  // The file is re-created under the same name: the next flush is of the new one.
  std::filesystem::remove(db.path() + "-wal");
  EXPECT_FALSE(flush());
  { std::ofstream(db.path() + "-wal") << "new frames"; }
  EXPECT_TRUE(flush());
}

class SqliteFullSync : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    sqlite_options o;
    o.path = db_.path();
    o.synchronous = "full";
    o.wal_flush = gate_.fn();
    st_ = std::make_unique<sqlite_store>(o);
  }
  void TearDown() override {
    gate_.release_all();
    st_->stop();
  }

  test::temp_db db_;
  gated_flush gate_;
  std::unique_ptr<sqlite_store> st_;
};

TEST_F(SqliteFullSync, AWriteIsAcknowledgedAndReadableOnlyAfterTheWalFlush) {
  test::ordered_notes notes;
  auto note = [&](std::string what) { notes.note(std::move(what)); };
  st_->write([](write_txn& t) -> error { return ok_or_error(t.insert_user("flushed", "pw", 1)); },
             [&](const error& e) { note(e.code == errc::ok ? "written" : "write failed"); });
  // A write that fails without writing is answered after the commit before it.
  st_->write([](write_txn&) -> error { return make_error(errc::not_found, "nothing"); },
             [&](const error& e) { note(e.code == errc::not_found ? "refused" : "?"); });
  ASSERT_TRUE(gate_.wait_started(1));
  std::promise<bool> seen;
  auto seen_f = seen.get_future();
  st_->read([&](read_txn& t) { seen.set_value(t.find_user_by_handle("flushed").has_value()); },
            [&](const error&) { seen.set_value(false); });
  std::this_thread::sleep_for(200ms);
  { EXPECT_TRUE(notes.now().empty()) << "acknowledged before the WAL was flushed"; }
  EXPECT_EQ(seen_f.wait_for(0ms), std::future_status::timeout) << "read before the WAL was flushed";
  gate_.release_all();
  EXPECT_EQ(notes.wait_for(2), (std::vector<std::string>{"written", "refused"}));
  EXPECT_TRUE(test::get_or_throw(seen_f, "read"));
}

TEST_F(SqliteFullSync, WritesKeepCommittingWhileAFlushRuns) {
  // The first commit's flush is held: later writes still commit (their reads see them in
  // the writer), and are acknowledged together once the flushes return.
  constexpr int kWrites = 50;
  test::countdown acked(kWrites);
  st_->write([](write_txn& t) -> error { return ok_or_error(t.insert_user("first", "pw", 1)); },
             [&](const error&) { acked.hit(); });
  ASSERT_TRUE(gate_.wait_started(1));
  std::promise<int> users_seen_by_writer;
  for (int i = 1; i < kWrites; ++i) {
    st_->write(
        [i, &users_seen_by_writer](write_txn& t) -> error {
          auto r = t.insert_user("user" + std::to_string(i), "pw", 1);
          if (i == kWrites - 1) {
            int n = 0;
            for (int j = 1; j < kWrites; ++j)
              n += t.find_user_by_handle("user" + std::to_string(j)).has_value();
            users_seen_by_writer.set_value(n);
          }
          return ok_or_error(r);
        },
        [&](const error&) { acked.hit(); });
  }
  auto n = users_seen_by_writer.get_future();
  EXPECT_EQ(test::get_or_throw(n, "the last write"), kWrites - 1);
  EXPECT_EQ(acked.remaining(), static_cast<std::size_t>(kWrites));
  gate_.release_all();
  EXPECT_TRUE(acked.wait());
  EXPECT_LE(gate_.started(), 3) << "one flush covers every commit made while another ran";
}

TEST(SqliteReads, ReadsQueuedBehindABusyReaderRunTogetherAndAFailingOneFailsAlone) {
  // One reader thread, held by a first read while three more queue up: they then run
  // together, and the one that throws fails alone.
  init_crypto();
  test::temp_db db;
  sqlite_options o;
  o.path = db.path();
  o.synchronous = "full";
  o.readers = 1;
  sqlite_store st(o);
  std::promise<void> holding, release;
  auto released = release.get_future().share();
  st.read(
      [&, released](read_txn&) {
        holding.set_value();
        released.wait();
      },
      {});
  auto h = holding.get_future();
  test::get_or_throw(h, "the first read");
  std::vector<std::promise<std::string>> outcomes(3);
  for (int i = 0; i < 3; ++i) {
    st.read(
        [&outcomes, i](read_txn& t) {
          if (i == 0) throw std::runtime_error("this read fails");
          outcomes[i].set_value(t.find_user_by_handle("nobody") ? "found" : "read");
        },
        [&outcomes, i](const error& e) { outcomes[i].set_value("error " + e.message); });
  }
  release.set_value();
  std::vector<std::string> got;
  for (auto& p : outcomes) {
    auto f = p.get_future();
    got.push_back(test::get_or_throw(f, "a queued read"));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"error storage failure; nothing was written", "read",
                                           "read"}));
  st.stop();
}

TEST_F(SqliteFullSync, AnEarlierWriteAcknowledgedAfterARewriteLeavesNoOldEventInTheCache) {
  // A send is committed; before its flush returns, a later write rewrites that event (a
  // delete's tombstone). The send's `done` runs after the rewrite's job: it must not put
  // the old text into the recent-events cache.
  cached_store cached(*st_, event_cache::options{});
  gate_.release_all();
  auto run = [&](std::function<error(write_txn&)> fn) {
    auto p = std::make_shared<std::promise<error>>();
    auto f = p->get_future();
    cached.write(std::move(fn), [p](const error& e) { p->set_value(e); });
    return f;
  };
  conv_id c = 0;
  auto setup = run([&](write_txn& t) -> error {
    auto u = t.insert_user("sender", "pw", 1);
    if (!u) return u.err();
    c = t.insert_conversation(conv_kind::group, "room", std::nullopt, 1);
    t.put_member(c, u->id, role::owner, 0);
    return {errc::ok, {}, {}, 0};
  });
  ASSERT_EQ(test::get_or_throw(setup, "setup").code, errc::ok);
  auto event_with = [&](std::string text) {
    event e;
    e.conv = c;
    e.id = random_hex_id();
    e.ts_ms = 2;
    e.type = "message.created";
    e.sender = 1;
    e.data = "{\"text\":\"" + text + "\"}";
    return e;
  };
  gate_.close();
  int flushes = gate_.started();
  auto sent = run([&](write_txn& t) -> error {
    auto e = event_with("secret");
    t.append_event(e);
    return {errc::ok, {}, {}, 0};
  });
  ASSERT_TRUE(gate_.wait_started(flushes + 1));
  std::promise<void> rewritten;
  auto deleted = run([&](write_txn& t) -> error {
    t.rewrite_event_data(c, 1, "{\"deleted\":true}");
    rewritten.set_value();
    return {errc::ok, {}, {}, 0};
  });
  auto r = rewritten.get_future();
  test::get_or_throw(r, "the rewrite");
  gate_.release_one();  // the send's flush returns; the rewrite's is still to come
  ASSERT_EQ(test::get_or_throw(sent, "the send").code, errc::ok);
  EXPECT_EQ(cached.cache().events(), 0) << "the send's done cached the rewritten event";
  gate_.release_all();
  ASSERT_EQ(test::get_or_throw(deleted, "the rewrite").code, errc::ok);
  auto p = std::make_shared<std::promise<std::string>>();
  auto data = p->get_future();
  cached.read(
      [p, c](read_txn& t) {
        auto evs = t.read_events(c, 1, 1, 1);
        p->set_value(evs.empty() ? "" : evs[0].data);
      },
      [p](const error& e) { p->set_value("error: " + e.message); });
  EXPECT_EQ(test::get_or_throw(data, "the read"), "{\"deleted\":true}");
}

TEST_F(SqliteFullSync, BatchesOneFlushMadeDurableWakeOnceAfterAllTheirDoneCalls) {
  // Two batches commit while the flush before them is held; the next flush covers both,
  // and a wake-up deferred by the first batch's done call runs after the second's.
  test::ordered_notes notes;
  auto note = [&](std::string what) { notes.note(std::move(what)); };
  st_->write([](write_txn& t) -> error { return ok_or_error(t.insert_user("first", "pw", 1)); },
             [&](const error&) { note("done 0"); });
  ASSERT_TRUE(gate_.wait_started(1));
  std::promise<void> held, release, second_ran;
  auto released = release.get_future().share();
  st_->write(
      [&, released](write_txn& t) -> error {
        held.set_value();
        released.wait();  // the next write queues meanwhile: it is a batch of its own
        return ok_or_error(t.insert_user("second", "pw", 1));
      },
      [&](const error&) {
        note("done 1");
        if (!wake_batch::defer([&] { note("wake"); })) note("no scope");
      });
  auto h = held.get_future();
  test::get_or_throw(h, "the first batch");
  st_->write(
      [&](write_txn& t) -> error {
        second_ran.set_value();
        return ok_or_error(t.insert_user("third", "pw", 1));
      },
      [&](const error&) { note("done 2"); });
  release.set_value();
  auto ran = second_ran.get_future();
  test::get_or_throw(ran, "the second batch");
  std::this_thread::sleep_for(200ms);  // its COMMIT returns and hands back its ticket
  gate_.release_one();                 // the first flush: "done 0" only
  ASSERT_TRUE(gate_.wait_started(2));
  gate_.release_all();
  EXPECT_EQ(notes.wait_for(4), (std::vector<std::string>{"done 0", "done 1", "done 2", "wake"}));
  EXPECT_EQ(gate_.started(), 2) << "one flush covers both batches";
}

}  // namespace
}  // namespace parley::sqlite
