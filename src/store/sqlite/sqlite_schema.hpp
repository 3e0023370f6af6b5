// The SQLite schema and its migrations, applied in order by PRAGMA user_version.
// The on-disk format is described in docs/architecture.md ("Storage").
#pragma once

#include "store/sqlite/sqlite_db.hpp"

namespace parley::sqlite {

// Brings the database to the newest schema version inside one transaction.
void migrate(db& d);

}  // namespace parley::sqlite
