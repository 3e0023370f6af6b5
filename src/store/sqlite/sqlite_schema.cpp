#include "store/sqlite/sqlite_schema.hpp"

#include <array>
#include <stdexcept>

namespace parley::sqlite {

namespace {
// Each entry moves the schema from version i to i+1. Never edit a shipped entry; append.
constexpr std::array<const char*, 12> kMigrations = {
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
)sql",
    // 3: message state beside the log (edits, deletes, threads, reactions, mentions, read
    // positions). A message's row id is conv_id * 2^32 + seq: a conversation's messages
    // are one contiguous id range, found without another index.
    R"sql(
CREATE TABLE messages(
  id INTEGER PRIMARY KEY,
  conv_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  thread_root INTEGER NOT NULL DEFAULT 0,
  sender_id INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  text TEXT NOT NULL,
  reply_to INTEGER,
  mentions TEXT NOT NULL DEFAULT '',
  edited_ms INTEGER,
  deleted_ms INTEGER,
  reply_count INTEGER NOT NULL DEFAULT 0,
  last_reply_ms INTEGER
);
CREATE INDEX messages_threads ON messages(conv_id, thread_root, seq) WHERE thread_root <> 0;
CREATE TABLE message_edits(
  conv_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  edit_seq INTEGER NOT NULL,
  text TEXT NOT NULL,
  since_ms INTEGER NOT NULL,
  PRIMARY KEY (conv_id, seq, edit_seq)
) WITHOUT ROWID;
CREATE TABLE reactions(
  conv_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  emoji TEXT NOT NULL,
  user_id INTEGER NOT NULL,
  ts_ms INTEGER NOT NULL,
  PRIMARY KEY (conv_id, seq, emoji, user_id)
) WITHOUT ROWID;
CREATE TABLE thread_participants(
  conv_id INTEGER NOT NULL,
  root INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  first_ms INTEGER NOT NULL,
  PRIMARY KEY (conv_id, root, user_id)
) WITHOUT ROWID;
CREATE TABLE thread_follows(
  user_id INTEGER NOT NULL,
  conv_id INTEGER NOT NULL,
  root INTEGER NOT NULL,
  following INTEGER NOT NULL,
  PRIMARY KEY (user_id, conv_id, root)
) WITHOUT ROWID;
CREATE TABLE mentions(
  user_id INTEGER NOT NULL,
  conv_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  thread_root INTEGER NOT NULL,
  PRIMARY KEY (user_id, conv_id, seq)
) WITHOUT ROWID;
CREATE TABLE read_pointers(
  user_id INTEGER NOT NULL,
  conv_id INTEGER NOT NULL,
  root INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (user_id, conv_id, root)
) WITHOUT ROWID;
INSERT INTO messages(id, conv_id, seq, sender_id, created_ms, text)
  SELECT conv_id * 4294967296 + seq, conv_id, seq, sender_id, ts_ms,
         coalesce(json_extract(data, '$.text'), '')
  FROM events WHERE type = 'message.created';
)sql",
    // 4: full-text search over message text (FTS5, the messages table as external
    // content). Triggers keep the index in the same transaction as the text: an edit
    // re-indexes, a delete (text emptied) takes the old terms out.
    R"sql(
CREATE VIRTUAL TABLE messages_fts USING fts5(
  text, content = 'messages', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.text <> '' BEGIN
  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text)
    SELECT 'delete', old.id, old.text WHERE old.text <> '';
  INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.text <> '';
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.text <> '' BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
)sql",
    // 5: new messages are indexed in batches (one FTS5 segment per transaction made every
    // small group commit pay for a segment write and its merges): an insert queues the
    // message in search_pending, and the indexer moves a batch into the index in one
    // transaction. `indexed` says whether a message's terms are in the index, so edits and
    // deletes take out exactly what is there.
    R"sql(
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
ALTER TABLE messages ADD COLUMN indexed INTEGER NOT NULL DEFAULT 1;
CREATE TABLE search_pending(n INTEGER PRIMARY KEY, msg_id INTEGER NOT NULL);
CREATE TRIGGER messages_search_queue AFTER INSERT ON messages WHEN new.text <> '' BEGIN
  INSERT INTO search_pending(msg_id) VALUES (new.id);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages WHEN old.indexed = 1 BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text)
    SELECT 'delete', old.id, old.text WHERE old.text <> '';
  INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.text <> '';
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
  WHEN old.indexed = 1 AND old.text <> '' BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
)sql",
    // 6: uploads (content addressed by SHA-256; the bytes live in blob_store), who uploaded
    // them, which messages carry them; and whether deleted messages' terms still wait in
    // the search index for a merge to purge them.
    R"sql(
CREATE TABLE uploads(
  id TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  type TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  touched_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX uploads_touched ON uploads(touched_ms);
CREATE TABLE upload_owners(
  upload_id TEXT NOT NULL,
  user_id INTEGER NOT NULL,
  ts_ms INTEGER NOT NULL,
  PRIMARY KEY (upload_id, user_id)
) WITHOUT ROWID;
CREATE TABLE message_attachments(
  conv_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  upload_id TEXT NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY (conv_id, seq, idx)
) WITHOUT ROWID;
CREATE INDEX message_attachments_upload ON message_attachments(upload_id, conv_id, seq);
CREATE TABLE search_purge(id INTEGER PRIMARY KEY CHECK (id = 1), pending INTEGER NOT NULL);
INSERT INTO search_purge(id, pending) VALUES (1, 0);
)sql",
    // 7: the search indexer compacts the index while idle; merging any two segments of a
    // level keeps their number near log2 of the batches (each batch adds one).
    R"sql(
INSERT INTO messages_fts(messages_fts, rank) VALUES ('usermerge', 2);
)sql",
    // 8: receipts (delivered positions per device and per user; read positions are
    // read_pointers, now also listed by conversation) and presence preferences.
    R"sql(
CREATE TABLE device_delivered(
  device_id INTEGER NOT NULL,
  conv_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (device_id, conv_id)
) WITHOUT ROWID;
CREATE TABLE user_delivered(
  conv_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (conv_id, user_id)
) WITHOUT ROWID;
CREATE INDEX read_pointers_conv ON read_pointers(conv_id, root, user_id);
CREATE TABLE user_prefs(
  user_id INTEGER PRIMARY KEY,
  private_receipts INTEGER NOT NULL DEFAULT 0,
  invisible INTEGER NOT NULL DEFAULT 0,
  last_seen_ms INTEGER NOT NULL DEFAULT 0
);
)sql",
    // 9: a leaner send. The log loses two costs every append paid and nothing used: the
    // unique index on event ids (ids are random; a B-tree insert at a random place) and
    // the foreign key to conversations (a lookup plus a statement journal per append; the
    // writer checks the conversation itself). The search queue is filled by insert_message
    // instead of a trigger (a trigger program and a statement journal per message).
    R"sql(
DROP TRIGGER messages_search_queue;
CREATE TABLE events_v9(
  conv_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  type TEXT NOT NULL,
  sender_id INTEGER NOT NULL,
  client_msg_id TEXT,
  data TEXT NOT NULL,
  PRIMARY KEY (conv_id, seq)
) WITHOUT ROWID;
INSERT INTO events_v9(conv_id, seq, id, ts_ms, type, sender_id, client_msg_id, data)
  SELECT conv_id, seq, id, ts_ms, type, sender_id, client_msg_id, data FROM events;
DROP TABLE events;
ALTER TABLE events_v9 RENAME TO events;
)sql",
    // 10: a send's idempotency key is only in its event until the writer moves it into
    // send_keys later, many keys at a time in key order (send_key_buffer.hpp); inserting it
    // into send_keys at once dirtied a leaf of its sender per send. keys_seq: every key of
    // the conversation's events up to this seq is in send_keys.
    R"sql(
ALTER TABLE conversations ADD COLUMN keys_seq INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET keys_seq = last_seq;
)sql",
    // 11: the search index without its per-message sizes (columnsize=0): search sorts by
    // time, not by bm25 rank, so nothing reads them, and each indexed message paid for a
    // row in messages_fts_docsize (a nested statement and a B-tree insert at a random
    // place). And no per-message write when a message is indexed: `indexed` becomes
    // `search_ticket`, a number the writer gives each queued message in commit order (the
    // queue's `n`); the indexer takes the queue in that order and records the last ticket
    // it took in search_state.indexed_upto, so a message's current text is in the index
    // exactly when its ticket is at most that (0: a message queued never, its text empty
    // when sent, is indexed by the triggers when an edit gives it text). The index is
    // rebuilt from every message (what was queued is in it after the migration).
    R"sql(
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
ALTER TABLE messages RENAME COLUMN indexed TO search_ticket;
CREATE VIRTUAL TABLE messages_fts USING fts5(
  text, content = 'messages', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);
INSERT INTO messages_fts(messages_fts, rank) VALUES ('usermerge', 2);
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
DELETE FROM search_pending;
UPDATE search_purge SET pending = 0 WHERE id = 1;
CREATE TABLE search_state(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  indexed_upto INTEGER NOT NULL
);
INSERT INTO search_state(id, indexed_upto) VALUES (1, 1);
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
  WHEN old.search_ticket <= (SELECT indexed_upto FROM search_state WHERE id = 1) BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text)
    SELECT 'delete', old.id, old.text WHERE old.text <> '';
  INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.text <> '';
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.text <> ''
  AND old.search_ticket <= (SELECT indexed_upto FROM search_state WHERE id = 1) BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
)sql",
    // 12: one row per event, holding its message's state too. A send wrote a row in events
    // and one in messages: two B-tree inserts, and two leaves (two WAL pages) per
    // conversation per commit. The row id is conv_id * 2^32 + seq, as messages' was, so a
    // conversation's events are one contiguous id range; the event's id text is event_id.
    // The message columns are NULL for an event that is not a message (thread_root IS NULL
    // marks it); a message's sender is its event's sender. The search index now reads its
    // text from events and is rebuilt from every message, so nothing waits in the queue.
    R"sql(
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
CREATE TABLE events_v12(
  id INTEGER PRIMARY KEY,
  conv_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  type TEXT NOT NULL,
  sender_id INTEGER NOT NULL,
  client_msg_id TEXT,
  data TEXT NOT NULL,
  thread_root INTEGER,
  created_ms INTEGER,
  text TEXT,
  reply_to INTEGER,
  mentions TEXT,
  edited_ms INTEGER,
  deleted_ms INTEGER,
  reply_count INTEGER,
  last_reply_ms INTEGER,
  search_ticket INTEGER
);
INSERT INTO events_v12(id, conv_id, seq, event_id, ts_ms, type, sender_id, client_msg_id, data,
  thread_root, created_ms, text, reply_to, mentions, edited_ms, deleted_ms, reply_count,
  last_reply_ms, search_ticket)
  SELECT e.conv_id * 4294967296 + e.seq, e.conv_id, e.seq, e.id, e.ts_ms, e.type, e.sender_id,
    e.client_msg_id, e.data, m.thread_root, m.created_ms, m.text, m.reply_to, m.mentions,
    m.edited_ms, m.deleted_ms, m.reply_count, m.last_reply_ms, m.search_ticket
  FROM events e LEFT JOIN messages m ON m.id = e.conv_id * 4294967296 + e.seq
  ORDER BY e.conv_id, e.seq;
DROP TABLE events;
DROP TABLE messages;
ALTER TABLE events_v12 RENAME TO events;
CREATE INDEX events_threads ON events(conv_id, thread_root, seq) WHERE thread_root <> 0;
CREATE VIRTUAL TABLE messages_fts USING fts5(
  text, content = 'events', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);
INSERT INTO messages_fts(messages_fts, rank) VALUES ('usermerge', 2);
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
UPDATE search_state SET indexed_upto = max(indexed_upto,
  coalesce((SELECT max(n) FROM search_pending), 0),
  coalesce((SELECT max(search_ticket) FROM events), 0)) WHERE id = 1;
DELETE FROM search_pending;
UPDATE search_purge SET pending = 0 WHERE id = 1;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON events
  WHEN old.search_ticket <= (SELECT indexed_upto FROM search_state WHERE id = 1) BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text)
    SELECT 'delete', old.id, old.text WHERE old.text <> '';
  INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.text <> '';
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON events WHEN old.text <> ''
  AND old.search_ticket <= (SELECT indexed_upto FROM search_state WHERE id = 1) BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
)sql"};
}  // namespace

void migrate(db& d) {
  migrate(d, kMigrations.size());
}

void migrate(db& d, std::size_t target) {
  if (target > kMigrations.size()) throw std::invalid_argument("migrate: no such schema version");
  d.exec("BEGIN IMMEDIATE");
  try {
    auto& v = d.prepare("PRAGMA user_version");
    v.step();
    auto version = static_cast<std::size_t>(v.i64(0));
    v.reset();
    for (auto i = version; i < target; ++i) d.exec(kMigrations[i]);
    if (version < target) d.exec("PRAGMA user_version = " + std::to_string(target));
    d.exec("COMMIT");
  } catch (...) {
    d.exec("ROLLBACK");
    throw;
  }
}

}  // namespace parley::sqlite
