// The PostgreSQL schema and its migrations.
#pragma once

#include <cstddef>

#include "store/pg/pg_conn.hpp"

namespace parley::pg {

// Brings the database to the current schema version: creates it when empty, applies the
// missing migration steps in order, in one transaction. Safe when several nodes start at
// once: a transaction-scoped advisory lock makes them take turns, and the later ones find
// nothing left to do. Throws pg_error when a step fails (nothing of it stays), or
// std::runtime_error when the database is newer than this build.
void migrate(conn& c);
// The same, stopping at version `target` (at most the current one): for tests of a step
// on the data of the versions before it.
void migrate(conn& c, std::size_t target);

// The schema version this build brings a database to.
int schema_version();

}  // namespace parley::pg
