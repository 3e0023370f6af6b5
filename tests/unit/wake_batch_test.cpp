// wake_batch: wake-ups deferred to the end of a scope, and the storage writer that opens
// one around each batch's done calls (so the I/O threads wake once per batch).
#include "core/wake_batch.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <pthread.h>

#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto.hpp"
#include "core/thread_name.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit_support.hpp"

namespace parley {
namespace {

error ok() {
  return error{errc::ok, {}, {}, 0};
}

TEST(WakeBatch, WithoutAScopeNothingIsDeferred) {
  bool ran = false;
  EXPECT_FALSE(wake_batch::defer([&] { ran = true; }));
  EXPECT_FALSE(ran) << "defer() never runs the wake-up itself";
}

TEST(WakeBatch, WakeUpsRunInOrderWhenTheOutermostScopeCloses) {
  std::vector<std::string> order;
  {
    wake_batch outer;
    EXPECT_TRUE(wake_batch::defer([&] { order.push_back("first"); }));
    {
      wake_batch inner;
      EXPECT_TRUE(wake_batch::defer([&] { order.push_back("second"); }));
    }
    EXPECT_TRUE(order.empty()) << "an inner scope does not run the wake-ups";
    order.push_back("scope ends");
  }
  EXPECT_EQ(order, (std::vector<std::string>{"scope ends", "first", "second"}));
  bool later = false;
  EXPECT_FALSE(wake_batch::defer([&] { later = true; })) << "the scope is closed";
  EXPECT_FALSE(later);
}

TEST(WakeBatch, AWakeUpMayOpenAScopeOfItsOwn) {
  std::vector<std::string> order;
  {
    wake_batch scope;
    wake_batch::defer([&] {
      order.push_back("outer wake");
      wake_batch again;
      EXPECT_TRUE(wake_batch::defer([&] { order.push_back("nested wake"); }));
    });
  }
  EXPECT_EQ(order, (std::vector<std::string>{"outer wake", "nested wake"}));
}

// The writer, with synchronous "normal" (done calls right after the commit) and "full"
// (after the flush): a batch's done calls share one scope, and the writer thread does not
// preempt the threads that wake it.
class WriterBatches : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    init_crypto();
    sqlite::sqlite_options o;
    o.path = db_.path();
    o.synchronous = GetParam();
    st_ = std::make_unique<sqlite::sqlite_store>(o);
  }
  void TearDown() override { st_->stop(); }

  test::temp_db db_;
  std::unique_ptr<sqlite::sqlite_store> st_;
};

TEST_P(WriterBatches, TheDoneCallsOfABatchWakeOnceAfterTheLastOfThem) {
  // The first write holds the writer until two more are queued: they then form one batch.
  std::promise<void> held, release;
  auto released = release.get_future().share();
  test::ordered_notes notes;
  auto note = [&](std::string what) { notes.note(std::move(what)); };
  st_->write(
      [&, released](write_txn&) -> error {
        held.set_value();
        released.wait();
        return ok();
      },
      [&](const error&) { note("done 1"); });
  auto h = held.get_future();
  test::get_or_throw(h, "the first write");
  st_->write([](write_txn&) -> error { return ok(); },
             [&](const error&) {
               note("done 2");
               if (!wake_batch::defer([&] { note("wake"); })) note("no scope");
             });
  st_->write([](write_txn&) -> error { return ok(); }, [&](const error&) { note("done 3"); });
  st_->write([](write_txn&) -> error { return ok(); }, [&](const error&) { note("done 4"); });
  release.set_value();
  EXPECT_EQ(notes.wait_for(5),
            (std::vector<std::string>{"done 1", "done 2", "done 3", "done 4", "wake"}));
}

TEST_P(WriterBatches, TheWriterThreadRunsUnderSchedBatch) {
  std::promise<int> policy;
  st_->write(
      [&](write_txn&) -> error {
        policy.set_value(sched_getscheduler(0));
        return ok();
      },
      {});
  auto f = policy.get_future();
  EXPECT_EQ(test::get_or_throw(f, "the write"), SCHED_BATCH);
}

TEST_P(WriterBatches, AReaderThreadRunsUnderSchedBatchAndIsNamed) {
  std::promise<std::pair<int, std::string>> seen;
  st_->read(
      [&](read_txn&) {
        char buf[16] = {};
        pthread_getname_np(pthread_self(), buf, sizeof buf);
        seen.set_value({sched_getscheduler(0), buf});
      },
      {});
  auto f = seen.get_future();
  auto [policy, name] = test::get_or_throw(f, "the read");
  EXPECT_EQ(policy, SCHED_BATCH);
  EXPECT_EQ(name, "parley-reader");
}

TEST_P(WriterBatches, TheWriterThreadIsNamed) {
  std::promise<std::string> name;
  st_->write(
      [&](write_txn&) -> error {
        char buf[16] = {};
        pthread_getname_np(pthread_self(), buf, sizeof buf);
        name.set_value(buf);
        return ok();
      },
      {});
  auto f = name.get_future();
  EXPECT_EQ(test::get_or_throw(f, "the write"), "parley-writer");
}

TEST(ThreadName, ALongNameIsCutToWhatLinuxKeeps) {
  std::string got;
  std::thread([&] {
    name_thread("parley-a-very-long-name");
    char buf[16] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    got = buf;
  }).join();
  EXPECT_EQ(got, "parley-a-very-l");
}

INSTANTIATE_TEST_SUITE_P(Sync, WriterBatches, ::testing::Values("normal", "full"));

}  // namespace
}  // namespace parley
