#include "store/sqlite/sqlite_schema.hpp"

#include <array>

namespace parley::sqlite {

namespace {
// Each entry moves the schema from version i to i+1. Never edit a shipped entry; append.
constexpr std::array<const char*, 2> kMigrations = {
    // 1: users, devices, conversations, members, events.
    R"sql(
CREATE TABLE users(
  id INTEGER PRIMARY KEY,
  handle TEXT NOT NULL UNIQUE,
  pw_hash TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE devices(
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  token_hash BLOB NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL
);
CREATE TABLE conversations(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('direct','group')),
  title TEXT NOT NULL DEFAULT '',
  direct_lo INTEGER, direct_hi INTEGER,
  last_seq INTEGER NOT NULL DEFAULT 0,
  first_seq INTEGER NOT NULL DEFAULT 1,
  created_ms INTEGER NOT NULL,
  UNIQUE (direct_lo, direct_hi)
);
CREATE TABLE members(
  conv_id INTEGER NOT NULL REFERENCES conversations(id),
  user_id INTEGER NOT NULL REFERENCES users(id),
  role TEXT NOT NULL,
  joined_seq INTEGER NOT NULL,
  left_seq INTEGER,
  PRIMARY KEY (conv_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user_id, conv_id);
CREATE TABLE events(
  conv_id INTEGER NOT NULL REFERENCES conversations(id),
  seq INTEGER NOT NULL,
  id TEXT NOT NULL UNIQUE,
  ts_ms INTEGER NOT NULL,
  type TEXT NOT NULL,
  sender_id INTEGER NOT NULL,
  client_msg_id TEXT,
  data TEXT NOT NULL,
  PRIMARY KEY (conv_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX events_idempotency ON events(sender_id, client_msg_id)
  WHERE client_msg_id IS NOT NULL;
)sql",
    // 2: idempotency keys in their own table, kept forever (they outlive pruned events).
    R"sql(
CREATE TABLE send_keys(
  sender_id INTEGER NOT NULL,
  client_msg_id TEXT NOT NULL,
  conv_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  PRIMARY KEY (sender_id, client_msg_id)
) WITHOUT ROWID;
INSERT INTO send_keys(sender_id, client_msg_id, conv_id, seq, event_id, ts_ms)
  SELECT sender_id, client_msg_id, conv_id, seq, id, ts_ms FROM events
  WHERE client_msg_id IS NOT NULL;
DROP INDEX events_idempotency;
)sql"};
}  // namespace

void migrate(db& d) {
  d.exec("BEGIN IMMEDIATE");
  try {
    auto& v = d.prepare("PRAGMA user_version");
    v.step();
    auto version = static_cast<std::size_t>(v.i64(0));
    v.reset();
    for (auto i = version; i < kMigrations.size(); ++i) d.exec(kMigrations[i]);
    if (version < kMigrations.size())
      d.exec("PRAGMA user_version = " + std::to_string(kMigrations.size()));
    d.exec("COMMIT");
  } catch (...) {
    d.exec("ROLLBACK");
    throw;
  }
}

}  // namespace parley::sqlite
