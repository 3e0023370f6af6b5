// Makes the writer's commits durable in the background (pipelined group commit).
//
// With store.synchronous = full the writer runs SQLite with synchronous = NORMAL, so a
// COMMIT writes its WAL frames and returns without an fsync; this thread then flushes the
// WAL with fdatasync while the writer already runs the next batch. Every COMMIT takes a
// ticket (begin_commit, before the statement runs, so before the commit can become
// visible to another connection) and hands it back when the statement has returned
// (end_commit); one flush makes every ticket handed back before it started durable. The
// writer releases a batch's acknowledgements only when durable() has reached its ticket,
// and a reader whose snapshot may hold a commit waits for that commit's flush
// (wait_durable(latest())), so nothing a client sees can be lost to a power failure.
//
// A WAL is a log: a crash keeps a prefix of its commits, so durability is one number.
// A failed flush leaves unknown which of the flushed bytes reached the disk (the kernel
// may have dropped them); the process logs it and aborts, and restarts from what the
// WAL holds, as PostgreSQL does after a failed fsync.
//
// Thread-safety: begin_commit/end_commit from the writer thread only; latest, durable and
// wait_durable from any thread. stop() after the writer's last end_commit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace parley::sqlite {

class wal_syncer {
 public:
  // Makes every byte written to the WAL so far durable; false when it could not.
  using flush_fn = std::function<bool()>;

  // `on_durable` runs on the syncer's thread each time durable() advanced.
  wal_syncer(flush_fn flush, std::function<void()> on_durable);
  ~wal_syncer();
  wal_syncer(const wal_syncer&) = delete;
  wal_syncer& operator=(const wal_syncer&) = delete;

  // The flush of a WAL file by path: fdatasync of a descriptor opened on first use and
  // opened again if the path names another file since (SQLite re-created the WAL).
  static flush_fn fdatasync_of(std::string wal_path);

  std::uint64_t begin_commit();
  void end_commit(std::uint64_t ticket);

  // The last ticket taken: an upper bound of the commits a snapshot taken before the call
  // can hold.
  std::uint64_t latest() const { return latest_.load(); }
  // Every commit with a ticket up to this one is durable.
  std::uint64_t durable() const { return durable_.load(); }
  // Blocks until durable() >= ticket, or the syncer has stopped.
  void wait_durable(std::uint64_t ticket);

  // Flushes what was handed back and stops the thread (idempotent).
  void stop();

 private:
  void run();

  flush_fn flush_;
  std::function<void()> on_durable_;
  std::atomic<std::uint64_t> latest_{0};
  std::atomic<std::uint64_t> durable_{0};
  std::mutex mu_;
  std::condition_variable work_cv_;     // the thread waits for tickets handed back
  std::condition_variable durable_cv_;  // wait_durable waits for flushes
  std::uint64_t ended_ = 0;             // guarded by mu_: tickets handed back
  bool stop_ = false;                   // guarded by mu_
  bool finished_ = false;               // guarded by mu_: the thread has returned
  std::thread thread_;
};

}  // namespace parley::sqlite
