// Thin RAII wrappers over the SQLite C API: a connection and a prepared statement.
// Errors throw sqlite_error; callers in this folder catch it at the transaction edge and
// translate it into parley::error, so nothing SQLite-specific leaves store/sqlite.
// Not thread-safe: one connection belongs to one thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace parley::sqlite {

class sqlite_error : public std::runtime_error {
 public:
  sqlite_error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class stmt {
 public:
  stmt(sqlite3* db, std::string_view sql);
  ~stmt();
  stmt(const stmt&) = delete;
  stmt& operator=(const stmt&) = delete;

  stmt& reset();
  stmt& bind(int i, std::int64_t v);
  // Text and blobs are bound without a copy: the bytes must stay valid until the statement
  // has been stepped for the last time (bind named variables, not temporaries, unless the
  // whole bind-and-run is one expression).
  stmt& bind(int i, std::string_view v);
  stmt& bind_blob(int i, std::string_view v);
  stmt& bind_null(int i);
  stmt& bind(int i, const std::optional<std::int64_t>& v);
  // Returns true while a row is available.
  bool step();
  // Steps once, expecting no rows (INSERT/UPDATE/DELETE).
  void run();
  // True if stepped and not yet reset (holds a read cursor or an open write).
  bool busy() const;
  std::int64_t i64(int col) const;
  std::string text(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

class db {
 public:
  db(const std::string& path, bool readonly);
  ~db();
  db(const db&) = delete;
  db& operator=(const db&) = delete;

  void exec(std::string_view sql);
  // Prepared once per connection and cached by SQL text.
  stmt& prepare(std::string_view sql);
  std::int64_t changes() const;
  // Rows changed since the connection opened (sqlite3_total_changes64).
  std::int64_t total_changes() const;
  // Resets every cached statement that is busy (stepped and not reset), ending any read
  // cursor (and so the read snapshot) or unfinished write.
  void reset_all();
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, std::unique_ptr<stmt>, std::less<>> cache_;
};

}  // namespace parley::sqlite
