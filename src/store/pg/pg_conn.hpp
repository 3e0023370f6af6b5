// Thin RAII wrappers over libpq: a connection, its statements (prepared once per
// connection, cached by SQL text) and their results. Errors throw pg_error carrying the
// SQLSTATE; callers in this folder catch it at the transaction edge and translate it into
// parley::error, so nothing PostgreSQL-specific leaves store/pg.
// Not thread-safe: one connection belongs to one thread.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace parley::pg {

class pg_error : public std::runtime_error {
 public:
  pg_error(std::string sqlstate, const std::string& what)
      : std::runtime_error(what), sqlstate_(std::move(sqlstate)) {}
  // Five characters ("23505": unique violation); empty when the server sent none
  // (a lost connection).
  const std::string& sqlstate() const { return sqlstate_; }
  bool unique_violation() const { return sqlstate_ == "23505"; }

 private:
  std::string sqlstate_;
};

// One statement parameter: text (or SQL NULL), or binary bytes (bytea).
struct param {
  std::optional<std::string> value;
  bool binary = false;
};
param p(std::int64_t v);
param p(std::string_view v);
param p(const std::optional<std::int64_t>& v);
param p_bytes(std::string_view v);
param p_null();

// A statement's result rows (text format).
class rows {
 public:
  explicit rows(PGresult* r) : r_(r, &PQclear) {}
  int size() const { return PQntuples(r_.get()); }
  bool empty() const { return size() == 0; }
  std::int64_t i64(int row, int col) const;
  std::string text(int row, int col) const;
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  // Rows the statement inserted, updated or deleted (or selected, for a SELECT).
  std::int64_t affected() const;
  // The command tag ("INSERT 0 1", "SELECT 3"...).
  std::string_view status() const { return PQcmdStatus(r_.get()); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

class conn {
 public:
  // Connects (libpq connection string or URI) and runs `setup` (session settings; again
  // after every reset()). Throws pg_error on failure; the message never contains the
  // connection string.
  explicit conn(const std::string& conninfo, std::string setup = {});
  ~conn();
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;

  // Runs one or more statements without parameters.
  void exec(std::string_view sql);
  // Runs a statement with parameters ($1, $2...), preparing it on first use.
  rows query(const std::string& sql, const std::vector<param>& params = {});
  // Rows changed by this connection's statements since it opened (inserted, updated or
  // deleted; a statement starting with WITH counts as one), for telling whether a failed
  // write had already changed anything. Statements starting with SELECT must not write.
  std::int64_t total_changes() const { return changes_; }
  // Whether the connection is still usable; reset() reconnects (prepared statements are
  // prepared again on first use).
  bool ok() const;
  void reset();

 private:
  PGconn* c_ = nullptr;
  std::string setup_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
  std::int64_t changes_ = 0;
};

}  // namespace parley::pg
