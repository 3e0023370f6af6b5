#include "store/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>

#include "store/sqlite/sqlite_schema.hpp"
#include "store/sqlite/sqlite_txn.hpp"

namespace parley::sqlite {

namespace {

void configure_writer(db& d, const std::string& synchronous) {
  d.exec("PRAGMA journal_mode = WAL");
  d.exec(synchronous == "normal" ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL");
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
    configure_writer(d, opt_.synchronous);
    migrate(d);
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
      txn.save_last_seqs();
      d.prepare("COMMIT").run();
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
  if (retry) results.clear();
  return false;
}

void sqlite_store::writer_loop() {
  db d(opt_.path, false);
  configure_writer(d, opt_.synchronous);
  sqlite_txn txn(d);
  std::vector<write_job> batch;
  std::vector<error> results;
  const std::function<bool(bool)> pass = [&](bool isolated) {
    return run_batch(d, txn, batch, results, isolated);
  };
  while (queues_.take_writes(batch, opt_.max_batch)) {
    // Optimistic pass first: no savepoint per job (a savepoint copies every page a job
    // touches into the statement journal, which cost more than the job). A job that fails
    // without having changed a row needs no rollback. One that fails after changing rows,
    // or throws, sends the whole batch back to run again with a savepoint per job.
    run_write_round(batch, results, observer_, pass);
  }
}

void sqlite_store::reader_loop(std::size_t /*index*/) {
  db d(opt_.path, true);
  d.exec("PRAGMA query_only = ON");
  sqlite_txn txn(d);
  for (;;) {
    auto job = queues_.take_read();
    if (!job) return;  // stopping and drained
    std::optional<error> failure;
    try {
      d.exec("BEGIN");
      job->fn(txn);
      d.reset_all();
      d.exec("COMMIT");
    } catch (const std::exception& e) {
      failure = internal_error(e);
      d.reset_all();
      try {
        d.exec("ROLLBACK");
      } catch (const std::exception&) {
      }
    }
    if (failure && job->on_error) job->on_error(*failure);
  }
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
