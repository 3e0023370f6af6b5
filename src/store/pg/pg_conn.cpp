#include "store/pg/pg_conn.hpp"

#include <charconv>

namespace parley::pg {

namespace {

std::string message_of(const PGresult* r, PGconn* c) {
  const char* m = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
  std::string s = m ? m : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "postgres: unknown error" : "postgres: " + s;
}

[[noreturn]] void fail(PGresult* r, PGconn* c) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  pg_error e(state ? state : "", message_of(r, c));
  if (r) PQclear(r);
  throw e;
}

// Checks a result, taking ownership; throws on anything but success.
PGresult* check(PGresult* r, PGconn* c) {
  if (!r) fail(nullptr, c);
  auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r, c);
  return r;
}

}  // namespace

param p(std::int64_t v) {
  return {std::to_string(v), false};
}
param p(std::string_view v) {
  return {std::string(v), false};
}
param p(const std::optional<std::int64_t>& v) {
  return v ? p(*v) : p_null();
}
param p_bytes(std::string_view v) {
  return {std::string(v), true};
}
param p_null() {
  return {std::nullopt, false};
}

std::int64_t rows::i64(int row, int col) const {
  const char* s = PQgetvalue(r_.get(), row, col);
  std::int64_t v = 0;
  std::string_view sv(s, static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
  auto res = std::from_chars(sv.data(), sv.data() + sv.size(), v);
  if (res.ec != std::errc() || res.ptr != sv.data() + sv.size())
    throw pg_error("", "postgres: expected an integer column, got \"" + std::string(sv) + "\"");
  return v;
}

std::string rows::text(int row, int col) const {
  return std::string(PQgetvalue(r_.get(), row, col),
                     static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
}

std::int64_t rows::affected() const {
  const char* s = PQcmdTuples(r_.get());
  std::int64_t v = 0;
  if (s && *s) std::from_chars(s, s + std::char_traits<char>::length(s), v);
  return v;
}

conn::conn(const std::string& conninfo, std::string setup) : setup_(std::move(setup)) {
  c_ = PQconnectdb(conninfo.c_str());
  if (!c_ || PQstatus(c_) != CONNECTION_OK) {
    // PQerrorMessage names host and port at most, never the password.
    std::string why = c_ ? message_of(nullptr, c_) : "postgres: out of memory";
    if (c_) PQfinish(c_);
    c_ = nullptr;
    throw pg_error("08001", "cannot connect to PostgreSQL: " + why);
  }
  // Notices (e.g. "relation already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      c_, [](void*, const char*) {}, nullptr);
  if (!setup_.empty()) exec(setup_);
}

conn::~conn() {
  if (c_) PQfinish(c_);
}

void conn::exec(std::string_view sql) {
  std::string s(sql);
  PQclear(check(PQexec(c_, s.c_str()), c_));
}

rows conn::query(const std::string& sql, const std::vector<param>& params) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    auto name = "s" + std::to_string(prepared_.size());
    PQclear(check(PQprepare(c_, name.c_str(), sql.c_str(), 0, nullptr), c_));
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i].value ? params[i].value->data() : nullptr;
    lengths[i] = params[i].value ? static_cast<int>(params[i].value->size()) : 0;
    formats[i] = params[i].binary ? 1 : 0;
  }
  rows r(check(PQexecPrepared(c_, it->second.c_str(), static_cast<int>(params.size()),
                              values.data(), lengths.data(), formats.data(), 0),
               c_));
  // Rows written: INSERT, UPDATE and DELETE report theirs. A WITH statement's
  // data-modifying parts report none (and its main part only its own), so it counts as
  // one whenever it succeeds.
  std::string_view status = r.status();
  if (sql.starts_with("WITH"))
    ++changes_;
  else if (status.starts_with("INSERT") || status.starts_with("UPDATE") ||
           status.starts_with("DELETE"))
    changes_ += r.affected();
  return r;
}

bool conn::ok() const {
  return c_ && PQstatus(c_) == CONNECTION_OK;
}

void conn::reset() {
  PQreset(c_);
  prepared_.clear();
  if (!ok()) throw pg_error("08001", "cannot reconnect to PostgreSQL: " + message_of(nullptr, c_));
  if (!setup_.empty()) exec(setup_);
}

}  // namespace parley::pg
