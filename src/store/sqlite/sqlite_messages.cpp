// sqlite_txn: message state (edits, reactions, threads, mentions, read positions). A
// message's state is in the row of its event (schema migration 12; thread_root IS NULL in
// the row of an event that is not a message). A row id is conv_id * 2^32 + seq (see
// migration 3), so one conversation's events are the id range
// [conv_id * 2^32, (conv_id + 1) * 2^32).
#include <algorithm>
#include <chrono>
#include <map>

#include "store/message_rows.hpp"
#include "store/sqlite/sqlite_txn.hpp"

namespace parley::sqlite {

namespace {

constexpr const char* kMessageCols =
    "conv_id, seq, thread_root, sender_id, created_ms, text, reply_to, mentions, edited_ms, "
    "deleted_ms, reply_count, last_reply_ms";

message_state read_message(const stmt& s) {
  message_state m;
  m.conv = s.i64(0);
  m.seq = s.i64(1);
  if (auto root = s.i64(2); root != 0) m.thread = root;
  m.sender = s.i64(3);
  m.created_ms = s.i64(4);
  m.text = s.text(5);
  if (!s.is_null(6)) m.reply_to = s.i64(6);
  m.mentions = split_ids(s.text(7));
  if (!s.is_null(8)) m.edited_ms = s.i64(8);
  if (!s.is_null(9)) m.deleted_ms = s.i64(9);
  m.reply_count = s.i64(10);
  if (!s.is_null(11)) m.last_reply_ms = s.i64(11);
  return m;
}

std::string select_messages(const char* tail) {
  return std::string("SELECT ") + kMessageCols + " FROM events " + tail;
}

}  // namespace

std::optional<message_state> sqlite_txn::find_message(conv_id c, seq_t seq) {
  static const std::string sql = select_messages("WHERE id = ? AND thread_root IS NOT NULL");
  auto& s = db_.prepare(sql);
  s.bind(1, message_row_id(c, seq));
  if (!s.step()) return std::nullopt;
  return read_message(s);
}

std::vector<message_state> sqlite_txn::list_messages(conv_id c, seq_t root, seq_t from_seq,
                                                     seq_t to_seq, std::size_t limit,
                                                     bool descending) {
  std::vector<message_state> out;
  if (!clamp_row_seqs(from_seq, to_seq)) return out;
  // The main timeline walks the conversation's id range, skipping thread replies; a
  // thread reads its replies from the partial index.
  static const std::string main_asc =
      select_messages("WHERE id >= ? AND id <= ? AND thread_root = 0 ORDER BY id LIMIT ?");
  static const std::string main_desc =
      select_messages("WHERE id >= ? AND id <= ? AND thread_root = 0 ORDER BY id DESC LIMIT ?");
  static const std::string thread_asc = select_messages(
      "WHERE conv_id = ? AND thread_root = ? AND thread_root <> 0 AND seq >= ? AND seq <= ? "
      "ORDER BY seq LIMIT ?");
  static const std::string thread_desc = select_messages(
      "WHERE conv_id = ? AND thread_root = ? AND thread_root <> 0 AND seq >= ? AND seq <= ? "
      "ORDER BY seq DESC LIMIT ?");
  auto n = static_cast<std::int64_t>(limit);
  if (root == 0) {
    auto& s = db_.prepare(descending ? main_desc : main_asc);
    s.bind(1, message_row_id(c, from_seq)).bind(2, message_row_id(c, to_seq)).bind(3, n);
    while (s.step()) out.push_back(read_message(s));
  } else {
    auto& s = db_.prepare(descending ? thread_desc : thread_asc);
    s.bind(1, c).bind(2, root).bind(3, from_seq).bind(4, to_seq).bind(5, n);
    while (s.step()) out.push_back(read_message(s));
  }
  return out;
}

std::vector<reaction_count> sqlite_txn::list_reactions(conv_id c, seq_t from_seq, seq_t to_seq,
                                                       std::size_t max_users) {
  auto& s = db_.prepare(
      "SELECT seq, emoji, user_id FROM reactions WHERE conv_id = ? AND seq >= ? AND seq <= ? "
      "ORDER BY seq, ts_ms, user_id");
  s.bind(1, c).bind(2, from_seq).bind(3, to_seq);
  std::vector<reaction_count> out;
  std::map<std::string, std::size_t> index;  // emoji -> position, for the current message
  while (s.step()) {
    auto seq = s.i64(0);
    if (out.empty() || out.back().msg != seq) index.clear();
    auto emoji = s.text(1);
    auto [it, fresh] = index.try_emplace(emoji, out.size());
    if (fresh) out.push_back({seq, emoji, 0, {}});
    auto& r = out[it->second];
    ++r.count;
    if (r.users.size() < max_users) r.users.push_back(s.i64(2));
  }
  return out;
}

std::size_t sqlite_txn::count_user_reactions(conv_id c, seq_t msg, user_id u) {
  auto& s =
      db_.prepare("SELECT count(*) FROM reactions WHERE conv_id = ? AND seq = ? AND user_id = ?");
  s.bind(1, c).bind(2, msg).bind(3, u);
  s.step();
  return static_cast<std::size_t>(s.i64(0));
}

std::vector<user_id> sqlite_txn::list_thread_participants(conv_id c, seq_t root,
                                                          std::size_t limit) {
  auto& s = db_.prepare(
      "SELECT user_id FROM thread_participants WHERE conv_id = ? AND root = ? "
      "ORDER BY first_ms, user_id LIMIT ?");
  s.bind(1, c).bind(2, root).bind(3, static_cast<std::int64_t>(limit));
  std::vector<user_id> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

std::optional<bool> sqlite_txn::find_follow(user_id u, conv_id c, seq_t root) {
  auto& s = db_.prepare(
      "SELECT following FROM thread_follows WHERE user_id = ? AND conv_id = ? AND root = ?");
  s.bind(1, u).bind(2, c).bind(3, root);
  if (!s.step()) return std::nullopt;
  return s.i64(0) != 0;
}

std::vector<followed_thread> sqlite_txn::list_followed_threads(user_id u, conv_id c) {
  std::vector<followed_thread> out;
  if (c == 0) {
    auto& s = db_.prepare(
        "SELECT conv_id, root FROM thread_follows WHERE user_id = ? AND following = 1 "
        "ORDER BY conv_id, root");
    s.bind(1, u);
    while (s.step()) out.push_back({s.i64(0), s.i64(1)});
  } else {
    auto& s = db_.prepare(
        "SELECT conv_id, root FROM thread_follows WHERE user_id = ? AND conv_id = ? AND "
        "following = 1 ORDER BY root");
    s.bind(1, u).bind(2, c);
    while (s.step()) out.push_back({s.i64(0), s.i64(1)});
  }
  return out;
}

std::vector<message_edit> sqlite_txn::list_edits(conv_id c, seq_t seq) {
  auto& s = db_.prepare(
      "SELECT edit_seq, text, since_ms FROM message_edits WHERE conv_id = ? AND seq = ? "
      "ORDER BY edit_seq");
  s.bind(1, c).bind(2, seq);
  std::vector<message_edit> out;
  while (s.step()) out.push_back({s.i64(0), s.text(1), s.i64(2)});
  return out;
}

std::optional<seq_t> sqlite_txn::find_read_pointer(user_id u, conv_id c, seq_t root) {
  auto& s =
      db_.prepare("SELECT seq FROM read_pointers WHERE user_id = ? AND conv_id = ? AND root = ?");
  s.bind(1, u).bind(2, c).bind(3, root);
  if (!s.step()) return std::nullopt;
  return s.i64(0);
}

std::int64_t sqlite_txn::count_unread(conv_id c, seq_t root, user_id u, seq_t after,
                                      std::int64_t cap) {
  if (root == 0) {
    auto& s = db_.prepare(
        "SELECT count(*) FROM (SELECT 1 FROM events WHERE id > ? AND id < ? AND "
        "thread_root = 0 AND deleted_ms IS NULL AND sender_id <> ? LIMIT ?)");
    s.bind(1, message_row_id(c, std::max<seq_t>(after, 0)))
        .bind(2, message_row_id(c + 1, 0))
        .bind(3, u)
        .bind(4, cap);
    s.step();
    return s.i64(0);
  }
  auto& s = db_.prepare(
      "SELECT count(*) FROM (SELECT 1 FROM events WHERE conv_id = ? AND thread_root = ? AND "
      "thread_root <> 0 AND seq > ? AND deleted_ms IS NULL AND sender_id <> ? LIMIT ?)");
  s.bind(1, c).bind(2, root).bind(3, after).bind(4, u).bind(5, cap);
  s.step();
  return s.i64(0);
}

std::int64_t sqlite_txn::count_mentions(user_id u, conv_id c, seq_t root, seq_t after,
                                        std::int64_t cap) {
  auto& s = db_.prepare(
      "SELECT count(*) FROM (SELECT 1 FROM mentions WHERE user_id = ? AND conv_id = ? AND "
      "seq > ? AND thread_root = ? LIMIT ?)");
  s.bind(1, u).bind(2, c).bind(3, after).bind(4, root).bind(5, cap);
  s.step();
  return s.i64(0);
}

void sqlite_txn::prune_messages(conv_id c, seq_t first) {
  for (const char* sql : {"DELETE FROM reactions WHERE conv_id = ? AND seq < ?",
                          "DELETE FROM message_edits WHERE conv_id = ? AND seq < ?",
                          "DELETE FROM mentions WHERE conv_id = ? AND seq < ?",
                          "DELETE FROM thread_participants WHERE conv_id = ? AND root < ?"})
    db_.prepare(sql).bind(1, c).bind(2, first).run();
  detach_uploads(c, 0, first - 1,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
}

void sqlite_txn::rewrite_event_data(conv_id c, seq_t seq, const std::string& data) {
  db_.prepare("UPDATE events SET data = ? WHERE id = ?")
      .bind(1, data)
      .bind(2, message_row_id(c, seq))
      .run();
}

std::int64_t sqlite_txn::message_ticket(const message_state& m) {
  // A message with text is queued for the search indexer (index_pending) under a ticket
  // in commit order; one without (ticket 0) has nothing to index until an edit, which the
  // triggers index at once. Every message row must have a search_ticket: a NULL would
  // keep the triggers from ever indexing its edits.
  return m.text.empty() ? 0 : take_search_ticket();
}

void sqlite_txn::message_rows_added(const message_state& m, std::int64_t ticket) {
  if (ticket != 0)
    db_.prepare("INSERT INTO search_pending(n, msg_id) VALUES (?, ?)")
        .bind(1, ticket)
        .bind(2, message_row_id(m.conv, m.seq))
        .run();
  for (auto u : m.mentions) {
    db_.prepare(
           "INSERT OR IGNORE INTO mentions(user_id, conv_id, seq, thread_root) VALUES (?,?,?,?)")
        .bind(1, u)
        .bind(2, m.conv)
        .bind(3, m.seq)
        .bind(4, m.thread.value_or(0))
        .run();
  }
}

void sqlite_txn::insert_message(const message_state& m) {
  // The event's row gets the message's state (append_message writes both at once).
  const std::int64_t ticket = message_ticket(m);
  const auto mentions = join_ids(m.mentions);
  db_.prepare(
         "UPDATE events SET thread_root = ?, created_ms = ?, text = ?, reply_to = ?, "
         "mentions = ?, reply_count = 0, search_ticket = ? WHERE id = ? AND thread_root IS NULL")
      .bind(1, m.thread.value_or(0))
      .bind(2, m.created_ms)
      .bind(3, m.text)
      .bind(4, m.reply_to)
      .bind(5, mentions)
      .bind(6, ticket)
      .bind(7, message_row_id(m.conv, m.seq))
      .run();
  if (db_.changes() == 0)
    throw sqlite_error(SQLITE_NOTFOUND, "insert_message: no such event, or it has its message");
  message_rows_added(m, ticket);
}

void sqlite_txn::edit_message(conv_id c, seq_t seq, const std::string& text, std::int64_t ms,
                              seq_t edit_seq) {
  // The version being replaced: its text and since when it stood.
  db_.prepare(
         "INSERT INTO message_edits(conv_id, seq, edit_seq, text, since_ms) "
         "SELECT conv_id, seq, ?, text, coalesce(edited_ms, created_ms) FROM events "
         "WHERE id = ? AND thread_root IS NOT NULL")
      .bind(1, edit_seq)
      .bind(2, message_row_id(c, seq))
      .run();
  db_.prepare("UPDATE events SET text = ?, edited_ms = ? WHERE id = ? AND thread_root IS NOT NULL")
      .bind(1, text)
      .bind(2, ms)
      .bind(3, message_row_id(c, seq))
      .run();
}

std::vector<seq_t> sqlite_txn::delete_message(conv_id c, seq_t seq, std::int64_t ms) {
  std::vector<seq_t> edit_seqs;
  for (const auto& e : list_edits(c, seq)) edit_seqs.push_back(e.edit_seq);
  db_.prepare("DELETE FROM message_edits WHERE conv_id = ? AND seq = ?")
      .bind(1, c)
      .bind(2, seq)
      .run();
  db_.prepare("DELETE FROM reactions WHERE conv_id = ? AND seq = ?").bind(1, c).bind(2, seq).run();
  auto m = find_message(c, seq);
  if (m) delete_mentions(c, seq, m->mentions);
  // Its terms stay in the search index (as deleted) until a merge purges them.
  if (m && m->text.size() > 0)
    db_.prepare(
           "UPDATE search_purge SET pending = 1 WHERE id = 1 AND EXISTS (SELECT 1 FROM "
           "events m JOIN search_state s ON s.id = 1 WHERE m.id = ? AND "
           "m.search_ticket <= s.indexed_upto)")
        .bind(1, message_row_id(c, seq))
        .run();
  db_.prepare(
         "UPDATE events SET text = '', mentions = '', deleted_ms = ? WHERE id = ? AND thread_root "
         "IS NOT NULL")
      .bind(1, ms)
      .bind(2, message_row_id(c, seq))
      .run();
  detach_uploads(c, seq, seq, ms);
  return edit_seqs;
}

bool sqlite_txn::add_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u,
                              std::int64_t ms) {
  db_.prepare(
         "INSERT OR IGNORE INTO reactions(conv_id, seq, emoji, user_id, ts_ms) VALUES (?,?,?,?,?)")
      .bind(1, c)
      .bind(2, msg)
      .bind(3, emoji)
      .bind(4, u)
      .bind(5, ms)
      .run();
  return db_.changes() > 0;
}

bool sqlite_txn::remove_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u) {
  db_.prepare("DELETE FROM reactions WHERE conv_id = ? AND seq = ? AND emoji = ? AND user_id = ?")
      .bind(1, c)
      .bind(2, msg)
      .bind(3, emoji)
      .bind(4, u)
      .run();
  return db_.changes() > 0;
}

void sqlite_txn::add_thread_reply(conv_id c, seq_t root, user_id u, std::int64_t ms) {
  db_.prepare(
         "UPDATE events SET reply_count = reply_count + 1, last_reply_ms = ? WHERE id = ? AND "
         "thread_root IS NOT NULL")
      .bind(1, ms)
      .bind(2, message_row_id(c, root))
      .run();
  db_.prepare(
         "INSERT OR IGNORE INTO thread_participants(conv_id, root, user_id, first_ms) "
         "VALUES (?,?,?,?)")
      .bind(1, c)
      .bind(2, root)
      .bind(3, u)
      .bind(4, ms)
      .run();
}

void sqlite_txn::remove_thread_reply(conv_id c, seq_t root) {
  db_.prepare(
         "UPDATE events SET reply_count = max(reply_count - 1, 0) WHERE id = ? AND thread_root IS "
         "NOT NULL")
      .bind(1, message_row_id(c, root))
      .run();
}

bool sqlite_txn::set_follow(user_id u, conv_id c, seq_t root, bool following, bool only_if_unset) {
  if (only_if_unset) {
    db_.prepare(
           "INSERT OR IGNORE INTO thread_follows(user_id, conv_id, root, following) "
           "VALUES (?,?,?,?)")
        .bind(1, u)
        .bind(2, c)
        .bind(3, root)
        .bind(4, std::int64_t{following})
        .run();
    return db_.changes() > 0;
  }
  auto before = find_follow(u, c, root);
  if (before && *before == following) return false;
  db_.prepare(
         "INSERT INTO thread_follows(user_id, conv_id, root, following) VALUES (?,?,?,?) "
         "ON CONFLICT(user_id, conv_id, root) DO UPDATE SET following = excluded.following")
      .bind(1, u)
      .bind(2, c)
      .bind(3, root)
      .bind(4, std::int64_t{following})
      .run();
  return true;
}

std::int64_t sqlite_txn::take_search_ticket() {
  if (next_ticket_ == 0) {
    auto& q = db_.prepare(
        "SELECT max(coalesce((SELECT max(n) FROM search_pending), 0), "
        "(SELECT indexed_upto FROM search_state WHERE id = 1)) + 1");
    q.step();
    next_ticket_ = q.i64(0);
    q.reset();
  }
  return next_ticket_++;
}

std::size_t sqlite_txn::index_pending(std::size_t limit) {
  auto& q =
      db_.prepare("SELECT count(*), max(n) FROM (SELECT n FROM search_pending ORDER BY n LIMIT ?)");
  q.bind(1, static_cast<std::int64_t>(limit));
  q.step();
  auto taken = static_cast<std::size_t>(q.i64(0));
  auto last = q.i64(1);
  q.reset();
  if (taken == 0) return 0;
  // Set-based, FTS5 statement first. FTS5 writes its pending terms out as a new segment at
  // the end of every statement that holds a statement journal once the index is part of
  // the transaction; one statement per message made a segment per message (and the merges
  // to match). One INSERT ... SELECT makes one segment per round. Each message is queued
  // once; those gone (pruned) or emptied (deleted) add nothing, and one edited while
  // queued goes in with its current text.
  db_.prepare(
         "INSERT INTO messages_fts(rowid, text) SELECT m.id, m.text FROM search_pending p "
         "JOIN events m ON m.id = p.msg_id WHERE p.n <= ?1 AND m.text <> '' ORDER BY p.n")
      .bind(1, last)
      .run();
  db_.prepare("DELETE FROM search_pending WHERE n <= ?").bind(1, last).run();
  // Tickets are taken in commit order, so every ticket up to `last` is indexed now: one
  // row records it for all of them (the triggers and delete_message compare with it).
  db_.prepare("UPDATE search_state SET indexed_upto = max(indexed_upto, ?) WHERE id = 1")
      .bind(1, last)
      .run();
  return taken;
}

bool sqlite_txn::purge_search_index(std::size_t pages) {
  auto& q = db_.prepare("SELECT pending FROM search_purge WHERE id = 1");
  bool pending = q.step() && q.i64(0) != 0;
  q.reset();
  if (!pending) return false;
  // A merge with a negative page count works toward a single segment; once there, the
  // deleted entries are gone. Fewer than two changes means there was nothing to merge.
  auto before = db_.total_changes();
  db_.prepare("INSERT INTO messages_fts(messages_fts, rank) VALUES ('merge', ?)")
      .bind(1, -static_cast<std::int64_t>(pages))
      .run();
  if (db_.total_changes() - before >= 2) return true;
  db_.exec("UPDATE search_purge SET pending = 0 WHERE id = 1");
  return false;
}

bool sqlite_txn::compact_search_index(std::size_t pages) {
  // With usermerge = 2 (migration 7) a positive merge combines any two segments of a level.
  auto before = db_.total_changes();
  db_.prepare("INSERT INTO messages_fts(messages_fts, rank) VALUES ('merge', ?)")
      .bind(1, static_cast<std::int64_t>(pages))
      .run();
  return db_.total_changes() - before >= 2;
}

void sqlite_txn::delete_mentions(conv_id c, seq_t seq, const std::vector<user_id>& users) {
  // By the mentioned users: the primary key starts with the user.
  for (auto u : users)
    db_.prepare("DELETE FROM mentions WHERE user_id = ? AND conv_id = ? AND seq = ?")
        .bind(1, u)
        .bind(2, c)
        .bind(3, seq)
        .run();
}

void sqlite_txn::set_mentions(conv_id c, seq_t seq, const std::vector<user_id>& users) {
  auto m = find_message(c, seq);
  if (!m) return;
  delete_mentions(c, seq, m->mentions);
  for (auto u : users)
    db_.prepare(
           "INSERT OR IGNORE INTO mentions(user_id, conv_id, seq, thread_root) VALUES (?,?,?,?)")
        .bind(1, u)
        .bind(2, c)
        .bind(3, seq)
        .bind(4, m->thread.value_or(0))
        .run();
  db_.prepare("UPDATE events SET mentions = ? WHERE id = ? AND thread_root IS NOT NULL")
      .bind(1, join_ids(users))
      .bind(2, message_row_id(c, seq))
      .run();
}

bool sqlite_txn::advance_read_pointer(user_id u, conv_id c, seq_t root, seq_t seq) {
  db_.prepare(
         "INSERT INTO read_pointers(user_id, conv_id, root, seq) VALUES (?,?,?,?) "
         "ON CONFLICT(user_id, conv_id, root) DO UPDATE SET seq = excluded.seq "
         "WHERE excluded.seq > read_pointers.seq")
      .bind(1, u)
      .bind(2, c)
      .bind(3, root)
      .bind(4, seq)
      .run();
  return db_.changes() > 0;
}

}  // namespace parley::sqlite

namespace parley::sqlite {

std::vector<search_hit> sqlite_txn::search_messages(user_id u, const search_query& q) {
  // Driven by the user's memberships (CROSS JOIN keeps that order): for each conversation
  // FTS5 looks the terms up within its id range only, so other conversations' matches are
  // never touched, and membership is part of the query itself. Snippets are made in a
  // second step for the page's hits only (in the first query SQLite would make one for
  // every match before sorting).
  auto& s = db_.prepare(
      "SELECT m.conv_id, m.seq, m.sender_id, m.created_ms, m.thread_root, m.id "
      "FROM members mb CROSS JOIN messages_fts CROSS JOIN events m "
      "WHERE mb.user_id = ?1 AND (?3 = 0 OR mb.conv_id = ?3) "
      "AND messages_fts.rowid >= mb.conv_id * 4294967296 "
      "AND messages_fts.rowid < (mb.conv_id + 1) * 4294967296 "
      "AND messages_fts MATCH ?2 AND m.id = messages_fts.rowid AND m.deleted_ms IS NULL "
      "AND (mb.left_seq IS NULL OR m.seq <= mb.left_seq) "
      "AND (?4 = 0 OR m.sender_id = ?4) "
      "AND (?5 = 0 OR m.created_ms < ?5) AND (?6 = 0 OR m.created_ms > ?6) "
      "AND (?7 = 0 OR m.created_ms < ?7 OR (m.created_ms = ?7 AND m.id < ?8)) "
      "ORDER BY m.created_ms DESC, m.id DESC LIMIT ?9");
  s.bind(1, u)
      .bind(2, q.match)
      .bind(3, q.conv)
      .bind(4, q.sender)
      .bind(5, q.before_ms)
      .bind(6, q.after_ms)
      .bind(7, q.cursor_ts)
      .bind(8, q.cursor_id)
      .bind(9, static_cast<std::int64_t>(q.limit));
  std::vector<search_hit> out;
  while (s.step()) {
    search_hit h;
    h.conv = s.i64(0);
    h.seq = s.i64(1);
    h.sender = s.i64(2);
    h.ts_ms = s.i64(3);
    if (auto root = s.i64(4); root != 0) h.thread = root;
    h.row_id = s.i64(5);
    out.push_back(std::move(h));
  }
  s.reset();
  auto& sn = db_.prepare(
      "SELECT snippet(messages_fts, 0, char(1), char(2), '…', 16) FROM messages_fts "
      "WHERE messages_fts MATCH ? AND rowid = ?");
  for (auto& h : out) {
    sn.reset();
    sn.bind(1, q.match).bind(2, h.row_id);
    if (sn.step()) h.snippet = sn.text(0);
  }
  return out;
}

}  // namespace parley::sqlite
