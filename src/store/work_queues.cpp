#include "store/work_queues.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "core/wake_batch.hpp"

namespace parley {

namespace {
error overloaded() {
  auto e = make_error(errc::rate_limited, "the store is overloaded or stopping; retry");
  e.retry_after_ms = 100;
  return e;
}
}  // namespace

void work_queues::submit_write(store::write_fn fn, store::write_done done) {
  {
    std::lock_guard lk(wmu_);
    if (!wstop_ && wq_.size() < limit_) {
      wq_.push_back({std::move(fn), std::move(done)});
      wcv_.notify_one();
      return;
    }
  }
  done(overloaded());
}

void work_queues::submit_read(store::read_fn fn, std::function<void(const error&)> on_error) {
  {
    std::lock_guard lk(rmu_);
    if (!rstop_ && rq_.size() < limit_) {
      rq_.push_back({std::move(fn), std::move(on_error)});
      rcv_.notify_one();
      return;
    }
  }
  if (on_error) on_error(overloaded());
}

bool work_queues::take_writes(std::vector<write_job>& batch, std::size_t max) {
  std::unique_lock lk(wmu_);
  wcv_.wait(lk, [&] { return wstop_ || wwake_ || !wq_.empty(); });
  bool woken = std::exchange(wwake_, false);
  if (wq_.empty()) return woken && !wstop_;  // woken, or stopping and drained
  while (!wq_.empty() && batch.size() < max) {
    batch.push_back(std::move(wq_.front()));
    wq_.pop_front();
  }
  return true;
}

void work_queues::wake_writer() {
  {
    std::lock_guard lk(wmu_);
    wwake_ = true;
  }
  wcv_.notify_one();
}

std::optional<work_queues::read_job> work_queues::take_read() {
  std::unique_lock lk(rmu_);
  rcv_.wait(lk, [&] { return rstop_ || !rq_.empty(); });
  if (rq_.empty()) return std::nullopt;
  auto job = std::move(rq_.front());
  rq_.pop_front();
  return job;
}

bool work_queues::take_reads(std::vector<read_job>& batch, std::size_t max, std::size_t share) {
  std::unique_lock lk(rmu_);
  rcv_.wait(lk, [&] { return rstop_ || !rq_.empty(); });
  if (rq_.empty()) return false;  // stopping and drained
  auto n = std::min(max, (rq_.size() + share - 1) / std::max<std::size_t>(1, share));
  while (!rq_.empty() && batch.size() < n) {
    batch.push_back(std::move(rq_.front()));
    rq_.pop_front();
  }
  return true;
}

void work_queues::stop_writes() {
  {
    std::lock_guard lk(wmu_);
    wstop_ = true;
  }
  wcv_.notify_all();
}

void work_queues::stop_reads() {
  {
    std::lock_guard lk(rmu_);
    rstop_ = true;
  }
  rcv_.notify_all();
}

bool commit_write_round(std::vector<work_queues::write_job>& batch, std::vector<error>& results,
                        const commit_observer& observer, const std::function<bool(bool)>& pass) {
  auto t0 = std::chrono::steady_clock::now();
  bool committed = pass(false);
  if (!committed && results.empty()) committed = pass(true);
  if (committed && observer) {
    observer(batch.size(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return committed;
}

void finish_write_round(std::vector<work_queues::write_job>& batch,
                        const std::vector<error>& results) {
  // The batch's events and replies reach each I/O thread in one wake-up.
  wake_batch scope;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].done) batch[i].done(results[i]);
  }
  batch.clear();
}

void run_write_round(std::vector<work_queues::write_job>& batch, std::vector<error>& results,
                     const commit_observer& observer, const std::function<bool(bool)>& pass) {
  commit_write_round(batch, results, observer, pass);
  finish_write_round(batch, results);
}

}  // namespace parley
