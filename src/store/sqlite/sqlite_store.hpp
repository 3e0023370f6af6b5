// The SQLite backend of parley::store: one writer thread owning the only writing
// connection (group commit: every write queued while the previous transaction commits
// goes into the next one; a job that fails after writing, or throws, makes the batch run
// again with a savepoint per job), and a pool of reader threads with
// read-only connections. WAL mode.
//
// synchronous "full" (the default) is durable: a batch's `done` calls run (on the writer
// thread, in commit order) only once a flush of the WAL after its COMMIT has returned;
// the flush runs on its own thread (wal_syncer) while the writer runs the next batches.
// A read starts from a snapshot and waits until every commit it may hold is durable.
// "normal" runs the `done` calls right after COMMIT, and the WAL reaches the disk at
// checkpoints: a power failure may take back acknowledged writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/wal_checkpointer.hpp"
#include "store/store.hpp"
#include "store/work_queues.hpp"

namespace parley::sqlite {

class db;
class sqlite_txn;
class wal_syncer;

struct sqlite_options {
  std::string path;                  // database file; created if missing
  std::string synchronous = "full";  // "full" or "normal" (see docs/architecture.md)
  std::size_t readers = 2;           // reader threads/connections
  std::size_t max_batch = 1024;      // writes per transaction at most
  std::size_t queue_limit = 65536;   // queued writes (and reads) before rate_limited
  // Idempotency keys kept waiting (only in their events and the writer's memory) before
  // commits move them into send_keys (send_key_buffer.hpp); tests make it small.
  std::size_t send_keys_waiting = 16384;
  // The WAL is checkpointed (on a thread of its own, wal_checkpointer.hpp) once it holds
  // this many pages; 0: by the writer inside COMMIT (SQLite's automatic checkpoint).
  std::uint32_t checkpoint_pages = 10000;
  // With "full": makes the WAL's bytes durable for the background flush (tests slow it
  // down or count it); empty: fdatasync of the WAL file.
  std::function<bool()> wal_flush;
};

class sqlite_store final : public store {
 public:
  // Opens (creating and migrating) the database and starts the threads. Throws
  // std::runtime_error when the file cannot be opened or migrated.
  explicit sqlite_store(sqlite_options opt, commit_observer obs = {});
  ~sqlite_store() override;

  void write(write_fn fn, write_done done) override;
  void read(read_fn fn, std::function<void(const error&)> on_error) override;
  void stop() override;

  // The background checkpoints so far (all zero without a checkpointer); any thread.
  wal_checkpointer::stats checkpoints() const;

 private:
  using write_job = work_queues::write_job;
  void writer_loop();
  void commit(db& d);  // COMMIT, with a ticket of the background flush when there is one
  bool run_batch(db& d, sqlite_txn& txn, std::vector<write_job>& batch, std::vector<error>& results,
                 bool isolated);
  void reader_loop(std::size_t index);
  void run_reads(db& d, sqlite_txn& txn, std::vector<work_queues::read_job>& jobs);

  sqlite_options opt_;
  commit_observer observer_;
  work_queues queues_;
  // "full": the background flush of the WAL, and the ticket of the writer's last COMMIT.
  std::unique_ptr<wal_syncer> syncer_;
  std::uint64_t last_ticket_ = 0;  // writer thread only
  // Checkpoints the WAL beside the writer; null when checkpoint_pages is 0 or it could not
  // open its connection (the writer then checkpoints in COMMIT). Stopped by the writer.
  std::unique_ptr<wal_checkpointer> checkpointer_;
  int wal_frames_ = -1;  // writer thread only: the frames its last COMMIT left in the WAL
  std::thread writer_;
  std::vector<std::thread> readers_;
  bool stopped_ = false;
};

}  // namespace parley::sqlite
