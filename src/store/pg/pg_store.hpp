// The PostgreSQL backend of parley::store. Like the SQLite one, one writer thread per
// store instance runs every queued write of a round in one transaction (group commit; a
// job that fails after writing, or throws, makes the batch run again with a savepoint per
// job), and a pool of reader threads runs reads, each in a REPEATABLE READ READ ONLY
// transaction (a consistent snapshot). Unlike SQLite, other nodes (processes with their
// own pg_store) may write the same database at the same time: seqs and idempotency keys
// are kept by row locks and unique indexes in the database, not by the single writer.
#pragma once

#include <string>
#include <thread>
#include <vector>

#include "store/store.hpp"
#include "store/work_queues.hpp"

namespace parley::pg {

class conn;
class pg_txn;

struct pg_options {
  // libpq connection string or URI; may hold a password: never logged.
  std::string conninfo;
  std::size_t readers = 2;          // reader threads/connections
  std::size_t max_batch = 1024;     // writes per transaction at most
  std::size_t queue_limit = 65536;  // queued writes (and reads) before rate_limited
};

class pg_store final : public store {
 public:
  // Connects, migrates the schema (see pg_schema.hpp) and starts the threads. Throws
  // std::runtime_error (pg_error) when the database cannot be reached or migrated.
  explicit pg_store(pg_options opt, commit_observer obs = {});
  ~pg_store() override;

  void write(write_fn fn, write_done done) override;
  void read(read_fn fn, std::function<void(const error&)> on_error) override;
  void stop() override;

 private:
  using write_job = work_queues::write_job;
  void writer_loop(std::unique_ptr<conn> c);
  bool run_batch(conn& c, pg_txn& txn, std::vector<write_job>& batch, std::vector<error>& results,
                 bool isolated);
  bool run_jobs_alone(conn& c, pg_txn& txn, std::vector<write_job>& batch,
                      std::vector<error>& results);
  void reader_loop(std::unique_ptr<conn> c);

  pg_options opt_;
  commit_observer observer_;
  work_queues queues_;
  std::thread writer_;
  std::vector<std::thread> readers_;
  bool stopped_ = false;
  // The last optimistic pass failed on a deadlock or lock timeout with another node (the
  // writer thread only): the rerun gives each job its own transaction.
  bool transient_ = false;
};

}  // namespace parley::pg
