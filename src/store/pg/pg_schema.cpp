#include "store/pg/pg_schema.hpp"

#include <algorithm>
#include <array>

namespace parley::pg {

namespace {

// Each entry moves the schema from version i to i+1. Never edit a shipped entry; append.
// The tables mirror the SQLite backend's (store/sqlite/sqlite_schema.cpp) at its version
// 8; the differences are PostgreSQL's types and the search index (a tsvector column with
// a GIN index instead of an FTS5 table). See docs/architecture.md "PostgreSQL backend".
constexpr std::array<const char*, 2> kMigrations = {
    // 1: the whole schema.
    R"sql(
CREATE TABLE users(
  id BIGSERIAL PRIMARY KEY,
  handle TEXT NOT NULL UNIQUE,
  pw_hash TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE TABLE devices(
  id BIGSERIAL PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id),
  token_hash BYTEA NOT NULL UNIQUE,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL
);
CREATE TABLE conversations(
  id BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('direct','group')),
  title TEXT NOT NULL DEFAULT '',
  direct_lo BIGINT, direct_hi BIGINT,
  last_seq BIGINT NOT NULL DEFAULT 0,
  first_seq BIGINT NOT NULL DEFAULT 1,
  created_ms BIGINT NOT NULL,
  UNIQUE (direct_lo, direct_hi)
);
CREATE TABLE members(
  conv_id BIGINT NOT NULL REFERENCES conversations(id),
  user_id BIGINT NOT NULL REFERENCES users(id),
  role TEXT NOT NULL,
  joined_seq BIGINT NOT NULL,
  left_seq BIGINT,
  PRIMARY KEY (conv_id, user_id)
);
CREATE INDEX members_by_user ON members(user_id, conv_id);
CREATE TABLE events(
  conv_id BIGINT NOT NULL REFERENCES conversations(id),
  seq BIGINT NOT NULL,
  id TEXT NOT NULL UNIQUE,
  ts_ms BIGINT NOT NULL,
  type TEXT NOT NULL,
  sender_id BIGINT NOT NULL,
  client_msg_id TEXT,
  data TEXT NOT NULL,
  PRIMARY KEY (conv_id, seq)
);
CREATE INDEX events_by_client_msg_id ON events(sender_id, client_msg_id)
  WHERE client_msg_id IS NOT NULL;
CREATE TABLE send_keys(
  sender_id BIGINT NOT NULL,
  client_msg_id TEXT NOT NULL,
  conv_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  event_id TEXT NOT NULL,
  ts_ms BIGINT NOT NULL,
  PRIMARY KEY (sender_id, client_msg_id)
);
CREATE TABLE messages(
  id BIGINT PRIMARY KEY,
  conv_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  thread_root BIGINT NOT NULL DEFAULT 0,
  sender_id BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  text TEXT NOT NULL,
  reply_to BIGINT,
  mentions TEXT NOT NULL DEFAULT '',
  edited_ms BIGINT,
  deleted_ms BIGINT,
  reply_count BIGINT NOT NULL DEFAULT 0,
  last_reply_ms BIGINT,
  indexed BOOLEAN NOT NULL DEFAULT FALSE,
  tsv TSVECTOR
);
CREATE INDEX messages_threads ON messages(conv_id, thread_root, seq) WHERE thread_root <> 0;
CREATE INDEX messages_search ON messages USING GIN (tsv);
CREATE TABLE search_pending(n BIGSERIAL PRIMARY KEY, msg_id BIGINT NOT NULL);
CREATE TABLE search_purge(id INTEGER PRIMARY KEY CHECK (id = 1), pending BOOLEAN NOT NULL);
INSERT INTO search_purge(id, pending) VALUES (1, FALSE);
CREATE TABLE message_edits(
  conv_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  edit_seq BIGINT NOT NULL,
  text TEXT NOT NULL,
  since_ms BIGINT NOT NULL,
  PRIMARY KEY (conv_id, seq, edit_seq)
);
CREATE TABLE reactions(
  conv_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  emoji TEXT NOT NULL,
  user_id BIGINT NOT NULL,
  ts_ms BIGINT NOT NULL,
  PRIMARY KEY (conv_id, seq, emoji, user_id)
);
CREATE TABLE thread_participants(
  conv_id BIGINT NOT NULL,
  root BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  first_ms BIGINT NOT NULL,
  PRIMARY KEY (conv_id, root, user_id)
);
CREATE TABLE thread_follows(
  user_id BIGINT NOT NULL,
  conv_id BIGINT NOT NULL,
  root BIGINT NOT NULL,
  following BOOLEAN NOT NULL,
  PRIMARY KEY (user_id, conv_id, root)
);
CREATE TABLE mentions(
  user_id BIGINT NOT NULL,
  conv_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  thread_root BIGINT NOT NULL,
  PRIMARY KEY (user_id, conv_id, seq)
);
CREATE TABLE read_pointers(
  user_id BIGINT NOT NULL,
  conv_id BIGINT NOT NULL,
  root BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (user_id, conv_id, root)
);
CREATE INDEX read_pointers_conv ON read_pointers(conv_id, root, user_id);
CREATE TABLE uploads(
  id TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  type TEXT NOT NULL,
  width BIGINT NOT NULL,
  height BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  touched_ms BIGINT NOT NULL
);
CREATE INDEX uploads_touched ON uploads(touched_ms);
CREATE TABLE upload_owners(
  upload_id TEXT NOT NULL,
  user_id BIGINT NOT NULL,
  ts_ms BIGINT NOT NULL,
  PRIMARY KEY (upload_id, user_id)
);
CREATE TABLE message_attachments(
  conv_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  idx BIGINT NOT NULL,
  upload_id TEXT NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY (conv_id, seq, idx)
);
CREATE INDEX message_attachments_upload ON message_attachments(upload_id, conv_id, seq);
CREATE TABLE device_delivered(
  device_id BIGINT NOT NULL,
  conv_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (device_id, conv_id)
);
CREATE TABLE user_delivered(
  conv_id BIGINT NOT NULL,
  user_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (conv_id, user_id)
);
CREATE TABLE user_prefs(
  user_id BIGINT PRIMARY KEY,
  private_receipts BOOLEAN NOT NULL DEFAULT FALSE,
  invisible BOOLEAN NOT NULL DEFAULT FALSE,
  last_seen_ms BIGINT NOT NULL DEFAULT 0
);
)sql",
    // 2: a message sent without text counts as indexed (nothing to index), so that an
    // edit giving it text indexes it; before, such an edit left it out of search. Those
    // already edited so are queued for the indexer.
    R"sql(
INSERT INTO search_pending(msg_id) SELECT id FROM messages m
  WHERE NOT indexed AND text <> ''
  AND NOT EXISTS (SELECT 1 FROM search_pending p WHERE p.msg_id = m.id);
UPDATE messages m SET indexed = TRUE WHERE NOT indexed AND text = ''
  AND NOT EXISTS (SELECT 1 FROM search_pending p WHERE p.msg_id = m.id);
)sql"};

// pg_advisory_xact_lock key of migrations: "parley" in ASCII.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(112097114108101121)";

}  // namespace

int schema_version() {
  return static_cast<int>(kMigrations.size());
}

void migrate(conn& c) {
  migrate(c, kMigrations.size());
}

void migrate(conn& c, std::size_t target) {
  target = std::min(target, kMigrations.size());
  c.exec("BEGIN");
  try {
    c.exec(kMigrationLock);
    c.exec("CREATE TABLE IF NOT EXISTS parley_schema(version INTEGER NOT NULL)");
    auto v = c.query("SELECT version FROM parley_schema");
    std::size_t version = 0;
    if (v.empty()) {
      c.exec("INSERT INTO parley_schema(version) VALUES (0)");
    } else {
      version = static_cast<std::size_t>(v.i64(0, 0));
    }
    if (version > kMigrations.size())
      throw std::runtime_error("the PostgreSQL database has schema version " +
                               std::to_string(version) + ", newer than this build's " +
                               std::to_string(kMigrations.size()));
    for (auto i = version; i < target; ++i) c.exec(kMigrations[i]);
    if (version < target)
      c.query("UPDATE parley_schema SET version = $1", {p(static_cast<std::int64_t>(target))});
    c.exec("COMMIT");
  } catch (...) {
    try {
      c.exec("ROLLBACK");
    } catch (const std::exception&) {
      // The connection is gone; the server rolled back.
    }
    throw;
  }
}

}  // namespace parley::pg
