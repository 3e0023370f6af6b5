#include "store/work_queues.hpp"

#include <chrono>

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
  wcv_.wait(lk, [&] { return wstop_ || !wq_.empty(); });
  if (wq_.empty()) return false;  // stopping and drained
  while (!wq_.empty() && batch.size() < max) {
    batch.push_back(std::move(wq_.front()));
    wq_.pop_front();
  }
  return true;
}

std::optional<work_queues::read_job> work_queues::take_read() {
  std::unique_lock lk(rmu_);
  rcv_.wait(lk, [&] { return rstop_ || !rq_.empty(); });
  if (rq_.empty()) return std::nullopt;
  auto job = std::move(rq_.front());
  rq_.pop_front();
  return job;
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

void run_write_round(std::vector<work_queues::write_job>& batch, std::vector<error>& results,
                     const commit_observer& observer, const std::function<bool(bool)>& pass) {
  auto t0 = std::chrono::steady_clock::now();
  bool committed = pass(false);
  if (!committed && results.empty()) committed = pass(true);
  if (committed && observer) {
    observer(batch.size(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].done) batch[i].done(results[i]);
  }
  batch.clear();
}

}  // namespace parley
