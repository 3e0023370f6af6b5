// Throwaway PostgreSQL databases for the unit tests. The server comes from PARLEY_PG_URL
// (set by the CTest entry `pg`, which starts a cluster with tests/pg/pg_cluster.sh); when
// it is unset, tests that need one skip with a message.
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "store/pg/pg_conn.hpp"

namespace parley::test {

// The server URL, or "" when none is configured.
inline std::string pg_url() {
  const char* u = std::getenv("PARLEY_PG_URL");
  return u ? u : "";
}

inline const char* kNoPgMessage =
    "PARLEY_PG_URL is not set: no PostgreSQL server to test against (the CTest entry `pg` "
    "starts one; see README.md)";

// The connection string of `url` with its database replaced by `dbname` (key='value'
// pairs; quotes and backslashes escaped).
inline std::string pg_with_dbname(const std::string& url, const std::string& dbname) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (!opts) {
    std::string why = err ? err : "out of memory";
    PQfreemem(err);
    throw std::runtime_error("PARLEY_PG_URL does not parse: " + why);
  }
  std::string out;
  auto add = [&out](const std::string& k, const std::string& v) {
    out += k + "='";
    for (char c : v) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    out += "' ";
  };
  for (auto* o = opts; o->keyword; ++o) {
    std::string k = o->keyword;
    if (k == "dbname" || !o->val) continue;
    add(k, o->val);
  }
  PQconninfoFree(opts);
  add("dbname", dbname);
  out.pop_back();
  return out;
}

// A new empty database on the PARLEY_PG_URL server; dropped when destroyed.
class temp_pg_db {
 public:
  temp_pg_db() {
    static std::atomic<int> counter{0};
    name_ = "parley_unit_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    pg::conn admin(pg_url());
    admin.exec("DROP DATABASE IF EXISTS " + name_);
    admin.exec("CREATE DATABASE " + name_);
    conninfo_ = pg_with_dbname(pg_url(), name_);
  }
  ~temp_pg_db() {
    try {
      remove();
    } catch (const std::exception&) {
      // The server is gone; the cluster is thrown away with its directory.
    }
  }
  temp_pg_db(const temp_pg_db&) = delete;
  temp_pg_db& operator=(const temp_pg_db&) = delete;
  const std::string& conninfo() const { return conninfo_; }

  void remove() {
    if (removed_) return;
    pg::conn admin(pg_url());
    admin.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    removed_ = true;
  }

 private:
  std::string name_;
  std::string conninfo_;
  bool removed_ = false;
};

}  // namespace parley::test
