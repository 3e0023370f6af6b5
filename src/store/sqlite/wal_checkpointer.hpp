// Checkpoints the WAL on a thread and connection of its own, so that the writer's commits
// do not wait for the copy of WAL pages into the database and its fsync.
//
// A checkpoint copies the WAL's pages into the database file and syncs it; once every
// frame is copied (the WAL is "backfilled"), the writer's next commit starts the WAL
// again from its beginning (a WAL reset). Run inside the writer's COMMIT (SQLite's
// automatic checkpoint) it stalled every write queued behind it for the copy and the
// database's fsync (about 15 ms every 0.4 s at 10,000 sends/s).
//
// SQLite before 3.51.3 (Debian 12 has 3.40) has a race between connections, the
// "WAL-reset bug": a checkpoint that starts while another connection commits a
// transaction that resets the WAL can miss the reset and later skip frames, corrupting
// the database. This class makes that interleaving impossible:
//
// - A reset needs the WAL to be completely backfilled. After a checkpoint that may have
//   backfilled everything, no checkpoint starts until a write transaction that began
//   after it has written frames (and so has reset the WAL or appended past the end).
// - The writer therefore brackets every write transaction with begin_write/end_write,
//   and reports whether the transaction wrote WAL frames (SQLite's WAL hook).
//
// A checkpoint that runs while the writer commits cannot backfill what is appended
// meanwhile, so under steady writes the WAL would never reset and only grow. A checkpoint
// starts at every `pages` new frames and copies only what the last one left; once the
// WAL holds four times `pages`, the frames appended during a checkpoint are copied by a
// second one with the writer held out (begin_write waits), which completes and waits
// (20 ms at most) for readers of older snapshots, and the writer's next commit starts
// the WAL again. The writer then waits for one short checkpoint (the copy of those
// frames, a flush of the WAL and of the database) per four. If readers kept the WAL, the
// held checkpoint is tried again `pages` frames later.
//
// Thread-safety: begin_write/end_write from the writer thread only; stats from any.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace parley::sqlite {

class db;

class wal_checkpointer {
 public:
  struct stats {
    std::uint64_t checkpoints = 0;  // checkpoints run (held ones included)
    std::uint64_t held = 0;         // of them, with the writer held out
    std::uint64_t backfilled = 0;   // of them, that copied every frame of the WAL
    std::uint64_t failed = 0;       // that returned an error other than busy (logged)
    std::uint64_t held_us = 0;      // microseconds of held checkpoints, from the request to hold
                                    // (the writer may finish a write first) to the release
    std::uint64_t max_frames = 0;   // the largest WAL a commit reported, in frames
  };

  // Opens its own connection to the database at `path` (already in WAL mode) and starts
  // the thread. A checkpoint starts once a commit reports `pages` frames more in the WAL
  // than there were when the last one ended (counted from the WAL's beginning once it
  // started again), and only after a write that began after that one. Throws
  // std::runtime_error when the connection cannot be opened.
  // `before_checkpoint` (tests) runs on the thread before each checkpoint.
  wal_checkpointer(const std::string& path, std::uint32_t pages,
                   std::function<void()> before_checkpoint = {});
  ~wal_checkpointer();
  wal_checkpointer(const wal_checkpointer&) = delete;
  wal_checkpointer& operator=(const wal_checkpointer&) = delete;

  // Before the writer's BEGIN: waits while a held checkpoint runs.
  void begin_write();
  // After the transaction's COMMIT or ROLLBACK. `wal_frames`: the frames in the WAL after
  // the commit, as SQLite's WAL hook reported them, or -1 when it wrote none (a rollback,
  // a commit of nothing).
  void end_write(int wal_frames);

  // Ends the thread after the checkpoint in progress, if any, and closes the connection
  // (idempotent). Call while the writer is not inside a transaction.
  void stop();

  stats get_stats() const;

 private:
  void run();
  // One checkpoint (SQLITE_CHECKPOINT_*) on this thread's connection; its result code,
  // the frames it saw in the WAL and how many of them are now copied.
  int checkpoint(int mode, int& log, int& copied);

  const std::uint32_t pages_;
  const std::uint64_t hold_at_;  // a WAL this long is backfilled with the writer held out
  const std::function<void()> before_checkpoint_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;    // the thread waits for a request or for the writer
  std::condition_variable writer_cv_;  // begin_write waits for a held checkpoint to end
  // All guarded by mu_.
  bool stop_ = false;
  bool requested_ = false;
  bool running_ = false;          // a checkpoint is under way (no new request is made)
  bool hold_ = false;             // a held checkpoint wants or has the writer held out
  bool in_write_ = false;         // the writer is between begin_write and end_write
  bool may_reset_ = true;         // the WAL may be backfilled: no checkpoint may start
  bool write_saw_reset_ = false;  // the current write began while may_reset_ was set
  std::uint64_t next_at_;         // request a checkpoint at this many frames
  std::uint64_t hold_next_;       // hold the writer for one from this many frames
  int last_frames_ = 0;           // the WAL's frames at the writer's last frame-writing commit
  stats stats_;
  std::unique_ptr<db> db_;  // used by the thread only, once started
  std::thread thread_;
};

}  // namespace parley::sqlite
