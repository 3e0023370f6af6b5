#include "store/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <deque>

#include "core/batch_thread.hpp"
#include "core/thread_name.hpp"
#include "core/wake_batch.hpp"
#include "store/sqlite/send_key_buffer.hpp"
#include "store/sqlite/sqlite_schema.hpp"
#include "store/sqlite/sqlite_txn.hpp"
#include "store/sqlite/wal_syncer.hpp"

namespace parley::sqlite {

namespace {

void configure_writer(db& d) {
  d.exec("PRAGMA journal_mode = WAL");
  // No fsync in COMMIT: with store.synchronous = full the wal_syncer flushes the WAL
  // behind the writer, and acknowledgements wait for it. Checkpoints still flush the WAL
  // before copying it, and the database after.
  d.exec("PRAGMA synchronous = NORMAL");
  d.exec("PRAGMA foreign_keys = ON");
  d.exec("PRAGMA cache_size = -65536");
  // Statement journals and sorts stay in memory: a spilled journal was a temporary file
  // written page by page.
  d.exec("PRAGMA temp_store = MEMORY");
  // Deleted content (a deleted message's text) is overwritten with zeros in the pages it
  // leaves, where that costs no extra I/O, instead of lingering in free space.
  d.exec("PRAGMA secure_delete = FAST");
  // Checkpoint when the WAL holds 10,000 pages (about 40 MiB), not SQLite's 1,000: the
  // pages a busy writer dirties again and again (each conversation's newest leaves) are
  // copied into the database once per checkpoint instead of ten times as often (W3 rounds
  // in 100 rooms of 10: 140k to 170k deliveries/s).
  d.exec("PRAGMA wal_autocheckpoint = 10000");
}

// SQLite's WAL hook: the writer's COMMIT wrote frames; `frames` are now in the WAL.
int note_wal_frames(void* arg, sqlite3*, const char*, int frames) {
  *static_cast<int*>(arg) = frames;
  return SQLITE_OK;
}

// Brackets a write transaction for the background checkpointer (wal_checkpointer.hpp).
class write_bracket {
 public:
  write_bracket(wal_checkpointer* c, int& frames) : c_(c), frames_(frames) {
    if (!c_) return;
    frames_ = -1;
    c_->begin_write();
  }
  ~write_bracket() {
    if (c_) c_->end_write(frames_);
  }
  write_bracket(const write_bracket&) = delete;
  write_bracket& operator=(const write_bracket&) = delete;

 private:
  wal_checkpointer* c_;
  int& frames_;
};

// Reads run in one snapshot at most.
constexpr std::size_t kReadsPerSnapshot = 32;

error internal_error(const std::exception& e) {
  spdlog::error("event=store_error what=\"{}\"", e.what());
  return make_error(errc::internal, "storage failure; nothing was written");
}

}  // namespace

sqlite_store::sqlite_store(sqlite_options opt, commit_observer obs)
    : opt_(std::move(opt)), observer_(std::move(obs)), queues_(opt_.queue_limit) {
  if (opt_.synchronous != "full" && opt_.synchronous != "normal")
    throw std::runtime_error("store.synchronous must be \"full\" or \"normal\"");
  {
    // Create and migrate before any reader opens the file.
    db d(opt_.path, false);
    configure_writer(d);
    migrate(d);
  }
  if (opt_.synchronous == "full") {
    auto flush = opt_.wal_flush ? opt_.wal_flush : wal_syncer::fdatasync_of(opt_.path + "-wal");
    syncer_ = std::make_unique<wal_syncer>(std::move(flush), [this] { queues_.wake_writer(); });
  }
  if (opt_.checkpoint_pages > 0) {
    try {
      checkpointer_ = std::make_unique<wal_checkpointer>(opt_.path, opt_.checkpoint_pages);
    } catch (const std::exception& e) {
      // The writer checkpoints inside COMMIT instead, as SQLite does by itself.
      spdlog::error("event=store_error what=\"checkpointer: {}\"", e.what());
    }
  }
  writer_ = std::thread([this] { writer_loop(); });
  for (std::size_t i = 0; i < std::max<std::size_t>(1, opt_.readers); ++i)
    readers_.emplace_back([this, i] { reader_loop(i); });
}

sqlite_store::~sqlite_store() {
  stop();
}

void sqlite_store::write(write_fn fn, write_done done) {
  queues_.submit_write(std::move(fn), std::move(done));
}

void sqlite_store::read(read_fn fn, std::function<void(const error&)> on_error) {
  queues_.submit_read(std::move(fn), std::move(on_error));
}

// One transaction over the batch. Isolated: a savepoint per job. Otherwise optimistic:
// returns false with `results` cleared when a job failed after changing rows, or threw,
// after rolling everything back (the caller runs the batch again, isolated). Returns
// false with every result set to the error when the transaction itself failed.
bool sqlite_store::run_batch(db& d, sqlite_txn& txn, std::vector<write_job>& batch,
                             std::vector<error>& results, bool isolated) {
  results.assign(batch.size(), error{errc::ok, {}, {}, 0});
  write_bracket bracket(checkpointer_.get(), wal_frames_);
  bool retry = false;
  try {
    // Prepared once (the statement cache), not parsed per job.
    d.prepare("BEGIN IMMEDIATE").run();
    txn.defer_last_seqs(!isolated);
    for (std::size_t i = 0; i < batch.size() && !retry; ++i) {
      if (isolated) {
        d.prepare("SAVEPOINT job").run();
        try {
          results[i] = batch[i].fn(txn);
        } catch (const std::exception& e) {
          results[i] = internal_error(e);
        }
        d.reset_all();
        if (results[i].code != errc::ok) {
          d.prepare("ROLLBACK TO job").run();
          txn.forget_cached();
          txn.rolled_back();
        }
        d.prepare("RELEASE job").run();
        continue;
      }
      txn.take_saved_rows();
      auto changes = d.total_changes();
      try {
        results[i] = batch[i].fn(txn);
        retry = results[i].code != errc::ok && d.total_changes() - txn.take_saved_rows() != changes;
      } catch (const std::exception&) {
        retry = true;
      }
      d.reset_all();
    }
    if (!retry) {
      txn.before_commit();
      commit(d);
      txn.committed();
      return true;
    }
  } catch (const std::exception& e) {
    auto err = internal_error(e);
    for (auto& r : results) r = err;
  }
  d.reset_all();
  txn.forget_cached();
  try {
    d.exec("ROLLBACK");
  } catch (const std::exception&) {
    // Already rolled back by SQLite (e.g. after an I/O error).
  }
  txn.rolled_back();
  if (retry) results.clear();
  return false;
}

void sqlite_store::commit(db& d) {
  if (!syncer_) {
    d.prepare("COMMIT").run();
    return;
  }
  // The ticket is taken before the commit can become visible to a reader, and handed
  // back whether or not it committed (a reader may be waiting for it).
  last_ticket_ = syncer_->begin_commit();
  try {
    d.prepare("COMMIT").run();
  } catch (...) {
    syncer_->end_commit(last_ticket_);
    throw;
  }
  syncer_->end_commit(last_ticket_);
}

void sqlite_store::writer_loop() {
  name_thread("parley-writer");
  prefer_batching();
  db d(opt_.path, false);
  configure_writer(d);
  // With the checkpointer, the WAL hook replaces SQLite's automatic checkpoint. The
  // checkpointer stops before this connection closes (declared after it).
  struct stop_at_exit {
    wal_checkpointer* c;
    ~stop_at_exit() {
      if (c) c->stop();
    }
  } stop_checkpointer{checkpointer_.get()};
  if (checkpointer_) sqlite3_wal_hook(d.handle(), note_wal_frames, &wal_frames_);
  send_key_buffer keys(opt_.send_keys_waiting, std::min<std::size_t>(256, opt_.send_keys_waiting));
  try {
    keys.load(d);
  } catch (const std::exception& e) {
    // Writes fail (nothing written) until a rollback loads the keys.
    spdlog::error("event=store_error what=\"loading idempotency keys: {}\"", e.what());
  }
  sqlite_txn txn(d, &keys);
  std::vector<write_job> batch;
  std::vector<error> results;
  const std::function<bool(bool)> pass = [&](bool isolated) {
    return run_batch(d, txn, batch, results, isolated);
  };
  // Optimistic pass first: no savepoint per job (a savepoint copies every page a job
  // touches into the statement journal, which cost more than the job). A job that fails
  // without having changed a row needs no rollback. One that fails after changing rows,
  // or throws, sends the whole batch back to run again with a savepoint per job.
  if (!syncer_) {
    while (queues_.take_writes(batch, opt_.max_batch))
      run_write_round(batch, results, observer_, pass);
    return;
  }
  // Committed rounds wait here, in commit order, for the flush that makes them durable
  // (a round that did not commit waits for the commits before it).
  struct waiting_round {
    std::uint64_t ticket;
    std::vector<write_job> batch;
    std::vector<error> results;
  };
  std::deque<waiting_round> waiting;
  auto release = [&] {
    wake_batch scope;  // the rounds one flush made durable reach each I/O thread at once
    auto durable = syncer_->durable();
    while (!waiting.empty() && waiting.front().ticket <= durable) {
      finish_write_round(waiting.front().batch, waiting.front().results);
      waiting.pop_front();
    }
  };
  for (;;) {
    release();
    // Wakes for new writes, and (wake_writer) each time a flush has returned.
    if (!queues_.take_writes(batch, opt_.max_batch)) break;
    if (batch.empty()) continue;
    commit_write_round(batch, results, observer_, pass);
    waiting.push_back({last_ticket_, std::move(batch), std::move(results)});
    batch.clear();
    results.clear();
  }
  while (!waiting.empty()) {
    syncer_->wait_durable(waiting.back().ticket);
    release();
  }
  syncer_->stop();
}

// The reads of one snapshot. With the background flush, a read waits before it runs until
// every commit its snapshot may hold is durable: what a client reads is never lost.
void sqlite_store::run_reads(db& d, sqlite_txn& txn, std::vector<work_queues::read_job>& jobs) {
  std::vector<std::optional<error>> failures(jobs.size());
  auto open_snapshot = [&] {
    d.exec("BEGIN");
    if (syncer_) {
      // The first read fixes the snapshot; a commit after the ticket read next is not in it.
      auto& v = d.prepare("PRAGMA schema_version");
      v.step();
      v.reset();
      syncer_->wait_durable(syncer_->latest());
    }
  };
  bool open = true;
  try {
    open_snapshot();
  } catch (const std::exception& e) {
    failures.assign(jobs.size(), internal_error(e));
    open = false;
  }
  for (std::size_t i = 0; open && i < jobs.size(); ++i) {
    try {
      jobs[i].fn(txn);
    } catch (const std::exception& e) {
      failures[i] = internal_error(e);
    }
    d.reset_all();
    // An error that ended the transaction (SQLite rolls back after some I/O errors): the
    // next job gets a snapshot of its own, and waits for it.
    if (failures[i] && i + 1 < jobs.size() && sqlite3_get_autocommit(d.handle())) {
      try {
        open_snapshot();
      } catch (const std::exception& e) {
        for (auto j = i + 1; j < jobs.size(); ++j) failures[j] = internal_error(e);
        break;
      }
    }
  }
  try {
    d.exec("COMMIT");
  } catch (const std::exception&) {
    try {
      d.exec("ROLLBACK");
    } catch (const std::exception&) {
    }
  }
  for (std::size_t i = 0; i < jobs.size(); ++i)
    if (failures[i] && jobs[i].on_error) jobs[i].on_error(*failures[i]);
  jobs.clear();
}

void sqlite_store::reader_loop(std::size_t /*index*/) {
  name_thread("parley-reader");
  prefer_batching();
  db d(opt_.path, true);
  d.exec("PRAGMA query_only = ON");
  sqlite_txn txn(d);
  std::vector<work_queues::read_job> jobs;
  // Reads waiting together share a snapshot (and its wait for durability), split evenly
  // between the reader threads.
  while (queues_.take_reads(jobs, kReadsPerSnapshot, std::max<std::size_t>(1, opt_.readers)))
    run_reads(d, txn, jobs);
}

wal_checkpointer::stats sqlite_store::checkpoints() const {
  return checkpointer_ ? checkpointer_->get_stats() : wal_checkpointer::stats{};
}

void sqlite_store::stop() {
  if (stopped_) return;
  stopped_ = true;
  queues_.stop_writes();
  if (writer_.joinable()) writer_.join();
  queues_.stop_reads();
  for (auto& t : readers_) t.join();
}

}  // namespace parley::sqlite
