// What every store backend's threads share: the bounded queues of writes and reads, and
// the group-commit round of the writer (optimistic pass, isolated rerun, commit report,
// `done` in submission order). A backend supplies only how a pass runs on its connection.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "store/store.hpp"

namespace parley {

// Observes each commit: how many writes it carried and how long the transaction took.
using commit_observer = std::function<void(std::size_t writes, double seconds)>;

class work_queues {
 public:
  struct write_job {
    store::write_fn fn;
    store::write_done done;
  };
  struct read_job {
    store::read_fn fn;
    std::function<void(const error&)> on_error;
  };

  explicit work_queues(std::size_t limit) : limit_(limit) {}

  // Queue a job, or, when `limit` jobs wait or the queue is stopped, fail it at once on the
  // caller's thread with rate_limited (the store contract).
  void submit_write(store::write_fn fn, store::write_done done);
  void submit_read(store::read_fn fn, std::function<void(const error&)> on_error);

  // Waits for writes and moves up to `max` of them into `batch` (left empty before);
  // false once writes are stopped and every queued one was taken. Returns true with
  // `batch` empty when wake_writer() was called since the last call and no write waits.
  bool take_writes(std::vector<write_job>& batch, std::size_t max);
  // Ends the writer's wait in take_writes once, from any thread.
  void wake_writer();
  // Waits for a read; nullopt once reads are stopped and every queued one was taken.
  std::optional<read_job> take_read();
  // Waits for reads and moves some into `batch` (left empty before): a `share`-th of those
  // queued, rounded up, and `max` at most. False once reads are stopped and every queued
  // one was taken.
  bool take_reads(std::vector<read_job>& batch, std::size_t max, std::size_t share);

  // New jobs are refused from now on; the ones queued are still handed out.
  void stop_writes();
  void stop_reads();

 private:
  std::size_t limit_;
  std::mutex wmu_;
  std::condition_variable wcv_;
  std::deque<write_job> wq_;  // guarded by wmu_
  bool wstop_ = false;        // guarded by wmu_
  bool wwake_ = false;        // guarded by wmu_
  std::mutex rmu_;
  std::condition_variable rcv_;
  std::deque<read_job> rq_;  // guarded by rmu_
  bool rstop_ = false;       // guarded by rmu_
};

// One group-commit round over `batch` (then cleared). `pass(isolated)` runs the batch in
// one transaction, fills `results` and returns whether it committed; an optimistic pass
// that returns false with `results` empty asks for the isolated rerun. Reports a commit
// to `observer` and runs every job's `done` with its result, in order.
void run_write_round(std::vector<work_queues::write_job>& batch, std::vector<error>& results,
                     const commit_observer& observer, const std::function<bool(bool)>& pass);
// run_write_round in two halves, for a store that acknowledges a round later than it
// commits it: the passes and the observer (returns whether it committed), then the
// `done` calls (which clear `batch`).
bool commit_write_round(std::vector<work_queues::write_job>& batch, std::vector<error>& results,
                        const commit_observer& observer, const std::function<bool(bool)>& pass);
void finish_write_round(std::vector<work_queues::write_job>& batch,
                        const std::vector<error>& results);

}  // namespace parley
