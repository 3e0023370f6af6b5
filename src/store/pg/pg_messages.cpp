// pg_txn: message state (messages, edits, reactions, threads, mentions, read positions).
// A message's row id is conv_id * 2^32 + seq, as in the SQLite backend (search cursors
// carry it).
#include <algorithm>
#include <chrono>
#include <map>

#include "store/message_rows.hpp"
#include "store/pg/pg_txn.hpp"

namespace parley::pg {

namespace {

constexpr const char* kMessageCols =
    "conv_id, seq, thread_root, sender_id, created_ms, text, reply_to, mentions, edited_ms, "
    "deleted_ms, reply_count, last_reply_ms";

message_state read_message(const rows& r, int i) {
  message_state m;
  m.conv = r.i64(i, 0);
  m.seq = r.i64(i, 1);
  if (auto root = r.i64(i, 2); root != 0) m.thread = root;
  m.sender = r.i64(i, 3);
  m.created_ms = r.i64(i, 4);
  m.text = r.text(i, 5);
  if (!r.is_null(i, 6)) m.reply_to = r.i64(i, 6);
  m.mentions = split_ids(r.text(i, 7));
  if (!r.is_null(i, 8)) m.edited_ms = r.i64(i, 8);
  if (!r.is_null(i, 9)) m.deleted_ms = r.i64(i, 9);
  m.reply_count = r.i64(i, 10);
  if (!r.is_null(i, 11)) m.last_reply_ms = r.i64(i, 11);
  return m;
}

std::string select_messages(const char* tail) {
  return std::string("SELECT ") + kMessageCols + " FROM messages " + tail;
}

std::vector<message_state> read_messages(const rows& r) {
  std::vector<message_state> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(read_message(r, i));
  return out;
}

std::int64_t count(std::size_t n) {
  return static_cast<std::int64_t>(std::min<std::size_t>(n, INT64_MAX));
}

}  // namespace

std::optional<message_state> pg_txn::find_message(conv_id c, seq_t seq) {
  static const std::string sql = select_messages("WHERE id = $1");
  auto r = db_.query(sql, {p(message_row_id(c, seq))});
  if (r.empty()) return std::nullopt;
  return read_message(r, 0);
}

std::vector<message_state> pg_txn::list_messages(conv_id c, seq_t root, seq_t from_seq,
                                                 seq_t to_seq, std::size_t limit, bool descending) {
  if (!clamp_row_seqs(from_seq, to_seq)) return {};
  static const std::string main_asc =
      select_messages("WHERE id >= $1 AND id <= $2 AND thread_root = 0 ORDER BY id LIMIT $3");
  static const std::string main_desc =
      select_messages("WHERE id >= $1 AND id <= $2 AND thread_root = 0 ORDER BY id DESC LIMIT $3");
  static const std::string thread_asc = select_messages(
      "WHERE conv_id = $1 AND thread_root = $2 AND thread_root <> 0 AND seq >= $3 AND seq <= $4 "
      "ORDER BY seq LIMIT $5");
  static const std::string thread_desc = select_messages(
      "WHERE conv_id = $1 AND thread_root = $2 AND thread_root <> 0 AND seq >= $3 AND seq <= $4 "
      "ORDER BY seq DESC LIMIT $5");
  if (root == 0)
    return read_messages(
        db_.query(descending ? main_desc : main_asc,
                  {p(message_row_id(c, from_seq)), p(message_row_id(c, to_seq)), p(count(limit))}));
  return read_messages(db_.query(descending ? thread_desc : thread_asc,
                                 {p(c), p(root), p(from_seq), p(to_seq), p(count(limit))}));
}

std::vector<reaction_count> pg_txn::list_reactions(conv_id c, seq_t from_seq, seq_t to_seq,
                                                   std::size_t max_users) {
  auto r = db_.query(
      "SELECT seq, emoji, user_id FROM reactions WHERE conv_id = $1 AND seq >= $2 AND seq <= $3 "
      "ORDER BY seq, ts_ms, user_id",
      {p(c), p(from_seq), p(to_seq)});
  std::vector<reaction_count> out;
  std::map<std::string, std::size_t> index;  // emoji -> position, for the current message
  for (int i = 0; i < r.size(); ++i) {
    auto seq = r.i64(i, 0);
    if (out.empty() || out.back().msg != seq) index.clear();
    auto emoji = r.text(i, 1);
    auto [it, fresh] = index.try_emplace(emoji, out.size());
    if (fresh) out.push_back({seq, emoji, 0, {}});
    auto& rc = out[it->second];
    ++rc.count;
    if (rc.users.size() < max_users) rc.users.push_back(r.i64(i, 2));
  }
  return out;
}

std::size_t pg_txn::count_user_reactions(conv_id c, seq_t msg, user_id u) {
  auto r =
      db_.query("SELECT count(*) FROM reactions WHERE conv_id = $1 AND seq = $2 AND user_id = $3",
                {p(c), p(msg), p(u)});
  return static_cast<std::size_t>(r.i64(0, 0));
}

std::vector<user_id> pg_txn::list_thread_participants(conv_id c, seq_t root, std::size_t limit) {
  auto r = db_.query(
      "SELECT user_id FROM thread_participants WHERE conv_id = $1 AND root = $2 "
      "ORDER BY first_ms, user_id LIMIT $3",
      {p(c), p(root), p(count(limit))});
  std::vector<user_id> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(r.i64(i, 0));
  return out;
}

std::optional<bool> pg_txn::find_follow(user_id u, conv_id c, seq_t root) {
  auto r = db_.query(
      "SELECT following FROM thread_follows WHERE user_id = $1 AND conv_id = $2 AND root = $3",
      {p(u), p(c), p(root)});
  if (r.empty()) return std::nullopt;
  return r.boolean(0, 0);
}

std::vector<followed_thread> pg_txn::list_followed_threads(user_id u, conv_id c) {
  auto r = c == 0 ? db_.query(
                        "SELECT conv_id, root FROM thread_follows WHERE user_id = $1 AND "
                        "following ORDER BY conv_id, root",
                        {p(u)})
                  : db_.query(
                        "SELECT conv_id, root FROM thread_follows WHERE user_id = $1 AND "
                        "conv_id = $2 AND following ORDER BY root",
                        {p(u), p(c)});
  std::vector<followed_thread> out;
  for (int i = 0; i < r.size(); ++i) out.push_back({r.i64(i, 0), r.i64(i, 1)});
  return out;
}

std::vector<message_edit> pg_txn::list_edits(conv_id c, seq_t seq) {
  auto r = db_.query(
      "SELECT edit_seq, text, since_ms FROM message_edits WHERE conv_id = $1 AND seq = $2 "
      "ORDER BY edit_seq",
      {p(c), p(seq)});
  std::vector<message_edit> out;
  for (int i = 0; i < r.size(); ++i) out.push_back({r.i64(i, 0), r.text(i, 1), r.i64(i, 2)});
  return out;
}

std::optional<seq_t> pg_txn::find_read_pointer(user_id u, conv_id c, seq_t root) {
  auto r =
      db_.query("SELECT seq FROM read_pointers WHERE user_id = $1 AND conv_id = $2 AND root = $3",
                {p(u), p(c), p(root)});
  if (r.empty()) return std::nullopt;
  return r.i64(0, 0);
}

std::int64_t pg_txn::count_unread(conv_id c, seq_t root, user_id u, seq_t after, std::int64_t cap) {
  if (root == 0)
    return db_
        .query(
            "SELECT count(*) FROM (SELECT 1 FROM messages WHERE id > $1 AND id < $2 AND "
            "thread_root = 0 AND deleted_ms IS NULL AND sender_id <> $3 LIMIT $4) x",
            {p(message_row_id(c, std::max<seq_t>(after, 0))), p(message_row_id(c + 1, 0)), p(u),
             p(cap)})
        .i64(0, 0);
  return db_
      .query(
          "SELECT count(*) FROM (SELECT 1 FROM messages WHERE conv_id = $1 AND thread_root = $2 "
          "AND thread_root <> 0 AND seq > $3 AND deleted_ms IS NULL AND sender_id <> $4 "
          "LIMIT $5) x",
          {p(c), p(root), p(after), p(u), p(cap)})
      .i64(0, 0);
}

std::int64_t pg_txn::count_mentions(user_id u, conv_id c, seq_t root, seq_t after,
                                    std::int64_t cap) {
  return db_
      .query(
          "SELECT count(*) FROM (SELECT 1 FROM mentions WHERE user_id = $1 AND conv_id = $2 AND "
          "seq > $3 AND thread_root = $4 LIMIT $5) x",
          {p(u), p(c), p(after), p(root), p(cap)})
      .i64(0, 0);
}

void pg_txn::prune_messages(conv_id c, seq_t first) {
  db_.query("DELETE FROM messages WHERE id >= $1 AND id < $2",
            {p(message_row_id(c, 0)), p(message_row_id(c, first))});
  for (const char* sql : {"DELETE FROM reactions WHERE conv_id = $1 AND seq < $2",
                          "DELETE FROM message_edits WHERE conv_id = $1 AND seq < $2",
                          "DELETE FROM mentions WHERE conv_id = $1 AND seq < $2",
                          "DELETE FROM thread_participants WHERE conv_id = $1 AND root < $2"})
    db_.query(sql, {p(c), p(first)});
  detach_uploads(c, 0, first - 1,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
}

void pg_txn::rewrite_event_data(conv_id c, seq_t seq, const std::string& data) {
  db_.query("UPDATE events SET data = $1 WHERE conv_id = $2 AND seq = $3", {p(data), p(c), p(seq)});
}

void pg_txn::insert_message(const message_state& m) {
  // One round trip: the message, and its place in the search indexer's queue
  // (index_pending indexes in batches) when it has text. One without text has nothing to
  // index: it counts as indexed, so an edit that gives it text indexes it at once.
  db_.query(
      "WITH m AS (INSERT INTO messages(id, conv_id, seq, thread_root, sender_id, created_ms, "
      "text, reply_to, mentions, indexed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$7 = '') "
      "RETURNING id, text) "
      "INSERT INTO search_pending(msg_id) SELECT id FROM m WHERE text <> ''",
      {p(message_row_id(m.conv, m.seq)), p(m.conv), p(m.seq), p(m.thread.value_or(0)), p(m.sender),
       p(m.created_ms), p(m.text), p(m.reply_to), p(join_ids(m.mentions))});
  for (auto u : m.mentions)
    db_.query(
        "INSERT INTO mentions(user_id, conv_id, seq, thread_root) VALUES ($1,$2,$3,$4) "
        "ON CONFLICT DO NOTHING",
        {p(u), p(m.conv), p(m.seq), p(m.thread.value_or(0))});
}

void pg_txn::edit_message(conv_id c, seq_t seq, const std::string& text, std::int64_t ms,
                          seq_t edit_seq) {
  // The version being replaced: its text and since when it stood.
  db_.query(
      "INSERT INTO message_edits(conv_id, seq, edit_seq, text, since_ms) "
      "SELECT conv_id, seq, $1, text, coalesce(edited_ms, created_ms) FROM messages WHERE id = $2",
      {p(edit_seq), p(message_row_id(c, seq))});
  // An indexed message is re-indexed at once.
  db_.query(
      "UPDATE messages SET text = $1, edited_ms = $2, "
      "tsv = CASE WHEN indexed AND $1 <> '' THEN to_tsvector('simple', $1) END WHERE id = $3",
      {p(text), p(ms), p(message_row_id(c, seq))});
}

std::vector<seq_t> pg_txn::delete_message(conv_id c, seq_t seq, std::int64_t ms) {
  std::vector<seq_t> edit_seqs;
  for (const auto& e : list_edits(c, seq)) edit_seqs.push_back(e.edit_seq);
  db_.query("DELETE FROM message_edits WHERE conv_id = $1 AND seq = $2", {p(c), p(seq)});
  db_.query("DELETE FROM reactions WHERE conv_id = $1 AND seq = $2", {p(c), p(seq)});
  auto m = find_message(c, seq);
  if (m) delete_mentions(c, seq, m->mentions);
  // Its index entries go at once (the row's tsvector is emptied); their old versions wait
  // in the GIN index's pending list until purge_search_index cleans it.
  db_.query(
      "UPDATE search_purge SET pending = TRUE WHERE id = 1 AND "
      "EXISTS (SELECT 1 FROM messages WHERE id = $1 AND indexed AND text <> '')",
      {p(message_row_id(c, seq))});
  db_.query(
      "UPDATE messages SET text = '', mentions = '', deleted_ms = $1, tsv = NULL WHERE id = $2",
      {p(ms), p(message_row_id(c, seq))});
  detach_uploads(c, seq, seq, ms);
  return edit_seqs;
}

bool pg_txn::add_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u,
                          std::int64_t ms) {
  return db_.query(
                "INSERT INTO reactions(conv_id, seq, emoji, user_id, ts_ms) VALUES "
                "($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
                {p(c), p(msg), p(emoji), p(u), p(ms)})
             .affected() > 0;
}

bool pg_txn::remove_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u) {
  return db_.query(
                "DELETE FROM reactions WHERE conv_id = $1 AND seq = $2 AND emoji = $3 AND "
                "user_id = $4",
                {p(c), p(msg), p(emoji), p(u)})
             .affected() > 0;
}

void pg_txn::add_thread_reply(conv_id c, seq_t root, user_id u, std::int64_t ms) {
  db_.query("UPDATE messages SET reply_count = reply_count + 1, last_reply_ms = $1 WHERE id = $2",
            {p(ms), p(message_row_id(c, root))});
  db_.query(
      "INSERT INTO thread_participants(conv_id, root, user_id, first_ms) VALUES ($1,$2,$3,$4) "
      "ON CONFLICT DO NOTHING",
      {p(c), p(root), p(u), p(ms)});
}

void pg_txn::remove_thread_reply(conv_id c, seq_t root) {
  db_.query("UPDATE messages SET reply_count = greatest(reply_count - 1, 0) WHERE id = $1",
            {p(message_row_id(c, root))});
}

bool pg_txn::set_follow(user_id u, conv_id c, seq_t root, bool following, bool only_if_unset) {
  auto f = p(std::string_view(following ? "true" : "false"));
  if (only_if_unset)
    return db_.query(
                  "INSERT INTO thread_follows(user_id, conv_id, root, following) "
                  "VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
                  {p(u), p(c), p(root), f})
               .affected() > 0;
  return db_.query(
                "INSERT INTO thread_follows(user_id, conv_id, root, following) "
                "VALUES ($1,$2,$3,$4) ON CONFLICT(user_id, conv_id, root) DO UPDATE "
                "SET following = excluded.following "
                "WHERE thread_follows.following <> excluded.following",
                {p(u), p(c), p(root), f})
             .affected() > 0;
}

void pg_txn::delete_mentions(conv_id c, seq_t seq, const std::vector<user_id>& users) {
  // By the mentioned users: the primary key starts with the user.
  if (users.empty()) return;
  db_.query("DELETE FROM mentions WHERE user_id = ANY($1::BIGINT[]) AND conv_id = $2 AND seq = $3",
            {p("{" + join_ids(users) + "}"), p(c), p(seq)});
}

void pg_txn::set_mentions(conv_id c, seq_t seq, const std::vector<user_id>& users) {
  auto m = find_message(c, seq);
  if (!m) return;
  delete_mentions(c, seq, m->mentions);
  for (auto u : users)
    db_.query(
        "INSERT INTO mentions(user_id, conv_id, seq, thread_root) VALUES ($1,$2,$3,$4) "
        "ON CONFLICT DO NOTHING",
        {p(u), p(c), p(seq), p(m->thread.value_or(0))});
  db_.query("UPDATE messages SET mentions = $1 WHERE id = $2",
            {p(join_ids(users)), p(message_row_id(c, seq))});
}

bool pg_txn::advance_read_pointer(user_id u, conv_id c, seq_t root, seq_t seq) {
  return db_.query(
                "INSERT INTO read_pointers(user_id, conv_id, root, seq) VALUES ($1,$2,$3,$4) "
                "ON CONFLICT(user_id, conv_id, root) DO UPDATE SET seq = excluded.seq "
                "WHERE excluded.seq > read_pointers.seq",
                {p(u), p(c), p(root), p(seq)})
             .affected() > 0;
}

}  // namespace parley::pg
