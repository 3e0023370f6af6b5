#include "store/pg/pg_store.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>
#include <thread>

#include "core/batch_thread.hpp"
#include "core/thread_name.hpp"
#include "store/pg/pg_conn.hpp"
#include "store/pg/pg_schema.hpp"
#include "store/pg/pg_txn.hpp"

namespace parley::pg {

namespace {

// Every session: durable commits whatever the server's default, UTC, and no statement
// left waiting forever on a lock held by a stuck node.
constexpr const char* kSessionSetup =
    "SET synchronous_commit = on; SET TIME ZONE 'UTC'; SET lock_timeout = '30s'";

error internal_error(const std::exception& e) {
  spdlog::error("event=store_error what=\"{}\"", e.what());
  return make_error(errc::internal, "storage failure; nothing was written");
}

// A failure that says nothing about the job, only about its timing against another node's
// transaction: deadlock, serialization failure, lock not available.
bool transient(const std::exception& e) {
  const auto* pe = dynamic_cast<const pg_error*>(&e);
  return pe &&
         (pe->sqlstate() == "40P01" || pe->sqlstate() == "40001" || pe->sqlstate() == "55P03");
}

constexpr int kTransientAttempts = 6;

// After a failure: a broken connection is opened again for the next transaction.
void recover(conn& c) {
  try {
    if (!c.ok()) c.reset();
  } catch (const std::exception& e) {
    spdlog::error("event=store_reconnect_failed what=\"{}\"", e.what());
  }
}

}  // namespace

pg_store::pg_store(pg_options opt, commit_observer obs)
    : opt_(std::move(opt)), observer_(std::move(obs)), queues_(opt_.queue_limit) {
  // Every connection is opened here, so a bad connection string fails the constructor.
  auto w = std::make_unique<conn>(opt_.conninfo, kSessionSetup);
  migrate(*w);
  // Deadlocks between nodes are found after deadlock_timeout (1 s by default) of waiting;
  // the writer asks for 100 ms where it may (a superuser setting: refused otherwise, and
  // then the deadlock costs its second).
  try {
    w->exec("SET deadlock_timeout = '100ms'");
  } catch (const std::exception&) {
    spdlog::info("event=deadlock_timeout_default reason=\"not a superuser\"");
  }
  std::vector<std::unique_ptr<conn>> rs;
  for (std::size_t i = 0; i < std::max<std::size_t>(1, opt_.readers); ++i)
    rs.push_back(std::make_unique<conn>(opt_.conninfo, kSessionSetup));
  writer_ = std::thread([this, c = std::move(w)]() mutable { writer_loop(std::move(c)); });
  for (auto& r : rs)
    readers_.emplace_back([this, c = std::move(r)]() mutable { reader_loop(std::move(c)); });
}

pg_store::~pg_store() {
  stop();
}

void pg_store::write(write_fn fn, write_done done) {
  queues_.submit_write(std::move(fn), std::move(done));
}

void pg_store::read(read_fn fn, std::function<void(const error&)> on_error) {
  queues_.submit_read(std::move(fn), std::move(on_error));
}

// One transaction over the batch. Isolated: a savepoint per job. Otherwise optimistic:
// returns false with `results` cleared when a job failed after changing rows, or threw
// (PostgreSQL aborts the whole transaction at a failed statement), after rolling
// everything back; the caller runs the batch again, isolated. Returns false with every
// result set to the error when the transaction itself failed.
bool pg_store::run_batch(conn& c, pg_txn& txn, std::vector<write_job>& batch,
                         std::vector<error>& results, bool isolated) {
  if (isolated && transient_) return run_jobs_alone(c, txn, batch, results);
  if (!isolated) transient_ = false;
  results.assign(batch.size(), error{errc::ok, {}, {}, 0});
  bool retry = false;
  try {
    // READ COMMITTED: each statement sees what other nodes committed before it, and an
    // UPDATE that waited for another node's row lock works on the committed row.
    c.exec("BEGIN");
    for (std::size_t i = 0; i < batch.size() && !retry; ++i) {
      if (isolated) {
        c.exec("SAVEPOINT job");
        try {
          results[i] = batch[i].fn(txn);
        } catch (const std::exception& e) {
          results[i] = internal_error(e);
        }
        if (results[i].code != errc::ok) c.exec("ROLLBACK TO SAVEPOINT job");
        c.exec("RELEASE SAVEPOINT job");
        continue;
      }
      auto changes = c.total_changes();
      try {
        results[i] = batch[i].fn(txn);
        retry = results[i].code != errc::ok && c.total_changes() != changes;
      } catch (const std::exception& e) {
        retry = true;
        transient_ = transient_ || transient(e);
      }
    }
    if (!retry) {
      // synchronous_commit stays on: COMMIT returns once the commit record is flushed.
      c.exec("COMMIT");
      return true;
    }
  } catch (const std::exception& e) {
    auto err = internal_error(e);
    for (auto& r : results) r = err;
  }
  try {
    c.exec("ROLLBACK");
  } catch (const std::exception&) {
    recover(c);  // the connection broke; the server rolled back
  }
  if (retry) results.clear();
  return false;
}

// After a deadlock (or lock timeout) with another node: every job in a transaction of its
// own, so that none holds a lock while waiting for another (a job locks at most one
// conversation), each tried again a few times, with a growing random pause, while the
// conflict lasts. Costs a commit per job, for this batch only.
bool pg_store::run_jobs_alone(conn& c, pg_txn& txn, std::vector<write_job>& batch,
                              std::vector<error>& results) {
  results.assign(batch.size(), error{errc::ok, {}, {}, 0});
  for (std::size_t i = 0; i < batch.size(); ++i) {
    for (int attempt = 1;; ++attempt) {
      bool again = false;
      try {
        c.exec("BEGIN");
        try {
          results[i] = batch[i].fn(txn);
        } catch (const std::exception& e) {
          if (transient(e) && attempt < kTransientAttempts)
            again = true;
          else
            results[i] = internal_error(e);
        }
        c.exec(!again && results[i].code == errc::ok ? "COMMIT" : "ROLLBACK");
      } catch (const std::exception& e) {
        results[i] = internal_error(e);
        try {
          c.exec("ROLLBACK");
        } catch (const std::exception&) {
          recover(c);
        }
      }
      if (!again) break;
      spdlog::info("event=store_conflict_retry attempt={}", attempt);
      std::this_thread::sleep_for(
          std::chrono::milliseconds((1 << attempt) + static_cast<int>(std::random_device{}() % 8)));
    }
  }
  transient_ = false;
  return true;
}

void pg_store::writer_loop(std::unique_ptr<conn> c) {
  name_thread("parley-writer");
  prefer_batching();
  pg_txn txn(*c);
  std::vector<write_job> batch;
  std::vector<error> results;
  const std::function<bool(bool)> pass = [&](bool isolated) {
    return run_batch(*c, txn, batch, results, isolated);
  };
  while (queues_.take_writes(batch, opt_.max_batch)) {
    if (!c->ok()) recover(*c);
    // Optimistic pass first (no savepoint per job); a job that fails after changing rows,
    // or throws (a unique index hit by another node's commit, say), sends the whole batch
    // back to run again with a savepoint per job.
    run_write_round(batch, results, observer_, pass);
  }
}

void pg_store::reader_loop(std::unique_ptr<conn> c) {
  name_thread("parley-reader");
  prefer_batching();
  pg_txn txn(*c);
  for (;;) {
    auto job = queues_.take_read();
    if (!job) return;  // stopping and drained
    std::optional<error> failure;
    try {
      if (!c->ok()) c->reset();
      c->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      job->fn(txn);
      c->exec("COMMIT");
    } catch (const std::exception& e) {
      failure = internal_error(e);
      try {
        c->exec("ROLLBACK");
      } catch (const std::exception&) {
        recover(*c);
      }
    }
    if (failure && job->on_error) job->on_error(*failure);
  }
}

void pg_store::stop() {
  if (stopped_) return;
  stopped_ = true;
  queues_.stop_writes();
  if (writer_.joinable()) writer_.join();
  queues_.stop_reads();
  for (auto& t : readers_) t.join();
}

}  // namespace parley::pg
