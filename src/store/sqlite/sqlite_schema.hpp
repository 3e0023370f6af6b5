// The SQLite schema and its migrations, applied in order by PRAGMA user_version.
// The on-disk format is described in docs/architecture.md ("Storage").
#pragma once

#include <cstddef>

#include "store/sqlite/sqlite_db.hpp"

namespace parley::sqlite {

// Brings the database to the newest schema version inside one transaction.
void migrate(db& d);
// Brings it to version `target` (no further); for tests of the migrations themselves.
// A database already at or past `target` is left as it is.
void migrate(db& d, std::size_t target);

}  // namespace parley::sqlite
