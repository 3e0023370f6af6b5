#include "store/sqlite/wal_checkpointer.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>

#include "core/batch_thread.hpp"
#include "core/thread_name.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace parley::sqlite {

wal_checkpointer::wal_checkpointer(const std::string& path, std::uint32_t pages,
                                   std::function<void()> before_checkpoint)
    : pages_(std::max<std::uint32_t>(1, pages)),
      hold_at_(std::uint64_t{pages_} * 4),
      before_checkpoint_(std::move(before_checkpoint)),
      next_at_(pages_),
      hold_next_(hold_at_) {
  db_ = std::make_unique<db>(path, false);
  // A checkpoint flushes the WAL before it copies frames into the database (so it copies
  // only what is on disk), and flushes the database before it marks them copied.
  db_->exec("PRAGMA synchronous = NORMAL");
  // How long a held checkpoint waits for readers of older snapshots (the writer waits too).
  sqlite3_busy_timeout(db_->handle(), 20);
  thread_ = std::thread([this] { run(); });
}

wal_checkpointer::~wal_checkpointer() {
  stop();
}

void wal_checkpointer::begin_write() {
  std::unique_lock lk(mu_);
  writer_cv_.wait(lk, [&] { return !hold_; });
  in_write_ = true;
  write_saw_reset_ = may_reset_;
}

void wal_checkpointer::end_write(int wal_frames) {
  bool wake = false;
  {
    std::lock_guard lk(mu_);
    in_write_ = false;
    if (wal_frames >= 0) {
      // This write reset the WAL or appended past every frame a checkpoint copied; if it
      // began after the last checkpoint, a new one may start.
      if (write_saw_reset_) may_reset_ = false;
      if (wal_frames < last_frames_) {
        // The WAL started again from its beginning.
        next_at_ = pages_;
        hold_next_ = hold_at_;
      }
      last_frames_ = wal_frames;
      stats_.max_frames = std::max<std::uint64_t>(stats_.max_frames, wal_frames);
      if (!running_ && !requested_ && !may_reset_ &&
          static_cast<std::uint64_t>(wal_frames) >= next_at_) {
        requested_ = true;
        wake = true;
      }
    }
    write_saw_reset_ = false;
    wake = wake || hold_;  // a held checkpoint waits for this write to end
  }
  if (wake) work_cv_.notify_one();
}

int wal_checkpointer::checkpoint(int mode, int& log, int& copied) {
  if (before_checkpoint_) before_checkpoint_();
  log = 0;
  copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_->handle(), nullptr, mode, &log, &copied);
  if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
    spdlog::warn("event=wal_checkpoint_failed what=\"{}\"", sqlite3_errmsg(db_->handle()));
  return rc;
}

void wal_checkpointer::run() {
  name_thread("parley-ckpt");
  prefer_batching();
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stop_ || requested_; });
    if (stop_) break;
    requested_ = false;
    running_ = true;
    lk.unlock();
    int log = 0;
    int copied = 0;
    // Copies what the writer committed so far while it commits more.
    int rc = checkpoint(SQLITE_CHECKPOINT_PASSIVE, log, copied);
    lk.lock();
    ++stats_.checkpoints;
    // SQLITE_BUSY: another connection held a lock it needs (it copied what it could).
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) ++stats_.failed;
    // Whatever it did, this checkpoint may have backfilled the WAL.
    may_reset_ = true;
    bool restarted = false;
    if (rc == SQLITE_OK && static_cast<std::uint64_t>(last_frames_) >= hold_next_ &&
        (copied < log || last_frames_ > log)) {
      // The WAL is long and was not backfilled (frames appended meanwhile, or a reader's
      // snapshot kept some): with the writer held out (once its write under way ends),
      // copy the rest. RESTART also waits, up to the busy timeout, until no reader uses
      // the WAL, so that the writer's next commit starts it again. No transaction is
      // under way, so none can reset the WAL while this checkpoint starts.
      hold_ = true;
      auto held_from = std::chrono::steady_clock::now();
      work_cv_.wait(lk, [&] { return !in_write_; });
      lk.unlock();
      rc = checkpoint(SQLITE_CHECKPOINT_RESTART, log, copied);
      lk.lock();
      ++stats_.checkpoints;
      ++stats_.held;
      if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) ++stats_.failed;
      restarted = rc == SQLITE_OK;
      // If it did not (a reader still on the WAL, a failure): again at the next checkpoint
      // (`pages` frames on), so that readers cannot make the WAL grow by much.
      hold_next_ = static_cast<std::uint64_t>(last_frames_) + pages_;
      hold_ = false;
      writer_cv_.notify_all();
      stats_.held_us +=
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - held_from)
                                         .count());
    }
    if (restarted || (rc == SQLITE_OK && copied == log && last_frames_ <= log)) ++stats_.backfilled;
    // The next checkpoint after `pages` more frames (a commit that finds the WAL started
    // again counts from its beginning).
    next_at_ = static_cast<std::uint64_t>(last_frames_) + pages_;
    running_ = false;
  }
}

void wal_checkpointer::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  db_.reset();
}

wal_checkpointer::stats wal_checkpointer::get_stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

}  // namespace parley::sqlite
