#include "store/sqlite/sqlite_db.hpp"

#include <mutex>

#include "store/sqlite/page_cache.hpp"
#include "store/sqlite/wal_vfs.hpp"

namespace parley::sqlite {

namespace {
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what) {
  throw sqlite_error(rc, std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}
}  // namespace

stmt::stmt(sqlite3* db, std::string_view sql) : db_(db) {
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  if (rc != SQLITE_OK) fail(db, rc, "prepare");
}

stmt::~stmt() {
  sqlite3_finalize(s_);
}

stmt& stmt::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  return *this;
}

stmt& stmt::bind(int i, std::int64_t v) {
  if (int rc = sqlite3_bind_int64(s_, i, v); rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

stmt& stmt::bind(int i, std::string_view v) {
  if (int rc = sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
      rc != SQLITE_OK)
    fail(db_, rc, "bind");
  return *this;
}

stmt& stmt::bind_blob(int i, std::string_view v) {
  if (int rc = sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
      rc != SQLITE_OK)
    fail(db_, rc, "bind");
  return *this;
}

stmt& stmt::bind_null(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

stmt& stmt::bind(int i, const std::optional<std::int64_t>& v) {
  return v ? bind(i, *v) : bind_null(i);
}

bool stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, rc, "step");
}

bool stmt::busy() const {
  return sqlite3_stmt_busy(s_) != 0;
}

void stmt::run() {
  while (step()) {
  }
}

std::int64_t stmt::i64(int col) const {
  return sqlite3_column_int64(s_, col);
}

std::string stmt::text(int col) const {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
           : std::string();
}

bool stmt::is_null(int col) const {
  return sqlite3_column_type(s_, col) == SQLITE_NULL;
}

namespace {
// Process-wide SQLite settings, before the first connection: no memory statistics (they
// take a global mutex on every allocation and free, and Parley never reads them), and the
// page cache whose transaction end does not scan the cache (page_cache.hpp).
void configure_sqlite_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    install_page_cache();
  });
}
}  // namespace

db::db(const std::string& path, bool readonly) {
  configure_sqlite_once();
  int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  // Every connection goes through the WAL-coalescing VFS (wal_vfs.hpp); only the writer
  // appends to the WAL, so only its commits change.
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, register_wal_vfs() ? kWalVfsName : nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw sqlite_error(rc, "open " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  sqlite3_extended_result_codes(db_, 1);
}

db::~db() {
  cache_.clear();
  sqlite3_close(db_);
}

void db::exec(std::string_view sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw sqlite_error(rc, "exec: " + msg);
  }
}

stmt& db::prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    it = cache_.emplace(std::string(sql), std::make_unique<stmt>(db_, sql)).first;
  }
  return it->second->reset();
}

void db::reset_all() {
  for (auto& [sql, st] : cache_)
    if (st->busy()) st->reset();
}

std::int64_t db::total_changes() const {
  return sqlite3_total_changes64(db_);
}

std::int64_t db::changes() const {
  return sqlite3_changes64(db_);
}

}  // namespace parley::sqlite
