#include "store/sqlite/sqlite_txn.hpp"

#include <sqlite3.h>

#include <algorithm>

#include "store/message_rows.hpp"
#include "store/sqlite/send_key_buffer.hpp"

namespace parley::sqlite {

namespace {

conversation read_conversation(const stmt& s, int o) {
  conversation c;
  c.id = s.i64(o);
  c.kind = s.text(o + 1) == "direct" ? conv_kind::direct : conv_kind::group;
  c.title = s.text(o + 2);
  c.last_seq = s.i64(o + 3);
  c.first_seq = s.i64(o + 4);
  c.created_ms = s.i64(o + 5);
  return c;
}
constexpr const char* kConvCols = "c.id, c.kind, c.title, c.last_seq, c.first_seq, c.created_ms";

membership read_membership(const stmt& s, int o) {
  membership m;
  m.conv = s.i64(o);
  m.u.id = s.i64(o + 1);
  m.u.handle = s.text(o + 2);
  m.role = parse_role(s.text(o + 3)).value_or(role::member);
  m.joined_seq = s.i64(o + 4);
  if (!s.is_null(o + 5)) m.left_seq = s.i64(o + 5);
  return m;
}
constexpr const char* kMemberCols =
    "m.conv_id, m.user_id, u.handle, m.role, m.joined_seq, m.left_seq";

event read_event(const stmt& s) {
  event e;
  e.conv = s.i64(0);
  e.seq = s.i64(1);
  e.id = s.text(2);
  e.ts_ms = s.i64(3);
  e.type = s.text(4);
  e.sender = s.i64(5);
  e.client_msg_id = s.text(6);
  e.data = s.text(7);
  return e;
}
constexpr const char* kEventCols =
    "conv_id, seq, event_id, ts_ms, type, sender_id, client_msg_id, data";

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out += p;
  return out;
}

}  // namespace

std::optional<credentials> sqlite_txn::find_user_by_handle(const std::string& handle) {
  auto& s = db_.prepare("SELECT id, handle, pw_hash FROM users WHERE handle = ?");
  s.bind(1, handle);
  if (!s.step()) return std::nullopt;
  return credentials{user{s.i64(0), s.text(1)}, s.text(2)};
}

std::optional<user> sqlite_txn::find_user(user_id id) {
  auto& s = db_.prepare("SELECT id, handle FROM users WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return user{s.i64(0), s.text(1)};
}

std::optional<device_session> sqlite_txn::find_device_by_token_hash(const std::string& hash) {
  auto& s = db_.prepare(
      "SELECT d.id, u.id, u.handle, d.expires_ms FROM devices d JOIN users u ON u.id = d.user_id "
      "WHERE d.token_hash = ?");
  s.bind_blob(1, hash);
  if (!s.step()) return std::nullopt;
  return device_session{s.i64(0), user{s.i64(1), s.text(2)}, s.i64(3)};
}

std::optional<conversation> sqlite_txn::find_conversation(conv_id id) {
  save_last_seqs();
  static const std::string sql =
      cat({"SELECT ", kConvCols, " FROM conversations c WHERE c.id = ?"});
  auto& s = db_.prepare(sql);
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_conversation(s, 0);
}

std::optional<conv_id> sqlite_txn::find_direct(user_id a, user_id b) {
  auto& s = db_.prepare("SELECT id FROM conversations WHERE direct_lo = ? AND direct_hi = ?");
  s.bind(1, std::min(a, b)).bind(2, std::max(a, b));
  if (!s.step()) return std::nullopt;
  return s.i64(0);
}

std::optional<membership> sqlite_txn::find_membership(conv_id c, user_id u) {
  static const std::string sql = cat(
      {"SELECT ", kMemberCols,
       " FROM members m JOIN users u ON u.id = m.user_id WHERE m.conv_id = ? AND m.user_id = ?"});
  auto& s = db_.prepare(sql);
  s.bind(1, c).bind(2, u);
  if (!s.step()) return std::nullopt;
  return read_membership(s, 0);
}

std::vector<membership> sqlite_txn::list_members(conv_id c) {
  static const std::string sql =
      cat({"SELECT ", kMemberCols,
           " FROM members m JOIN users u ON u.id = m.user_id"
           " WHERE m.conv_id = ? AND m.left_seq IS NULL ORDER BY m.user_id"});
  auto& s = db_.prepare(sql);
  s.bind(1, c);
  std::vector<membership> out;
  while (s.step()) out.push_back(read_membership(s, 0));
  return out;
}

std::vector<user_id> sqlite_txn::list_member_ids(conv_id c) {
  auto& s = db_.prepare(
      "SELECT user_id FROM members WHERE conv_id = ? AND left_seq IS NULL ORDER BY user_id");
  s.bind(1, c);
  std::vector<user_id> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

std::vector<std::pair<conversation, membership>> sqlite_txn::list_conversations(user_id u) {
  save_last_seqs();
  static const std::string sql =
      cat({"SELECT ", kConvCols, ", ", kMemberCols,
           " FROM members m JOIN conversations c ON c.id = m.conv_id JOIN users u ON u.id = "
           "m.user_id WHERE m.user_id = ? ORDER BY c.id"});
  auto& s = db_.prepare(sql);
  s.bind(1, u);
  std::vector<std::pair<conversation, membership>> out;
  while (s.step()) out.emplace_back(read_conversation(s, 0), read_membership(s, 6));
  return out;
}

std::vector<event> sqlite_txn::read_events(conv_id c, seq_t from_seq, seq_t to_seq,
                                           std::size_t limit) {
  static const std::string sql =
      cat({"SELECT ", kEventCols, " FROM events WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?"});
  std::vector<event> out;
  if (!clamp_row_seqs(from_seq, to_seq)) return out;  // row ids (schema migration 12)
  auto& s = db_.prepare(sql);
  s.bind(1, message_row_id(c, from_seq))
      .bind(2, message_row_id(c, to_seq))
      .bind(3, static_cast<std::int64_t>(limit));
  while (s.step()) out.push_back(read_event(s));
  return out;
}

std::vector<event> sqlite_txn::read_events_desc(conv_id c, seq_t from_seq, seq_t to_seq,
                                                std::size_t limit) {
  static const std::string sql = cat(
      {"SELECT ", kEventCols, " FROM events WHERE id >= ? AND id <= ? ORDER BY id DESC LIMIT ?"});
  std::vector<event> out;
  if (!clamp_row_seqs(from_seq, to_seq)) return out;  // row ids (schema migration 12)
  auto& s = db_.prepare(sql);
  s.bind(1, message_row_id(c, from_seq))
      .bind(2, message_row_id(c, to_seq))
      .bind(3, static_cast<std::int64_t>(limit));
  while (s.step()) out.push_back(read_event(s));
  return out;
}

std::optional<event> sqlite_txn::find_event_by_client_msg_id(user_id sender,
                                                             const std::string& cmid) {
  // Through the idempotency keys (the log has no index on them).
  auto k = find_send_key(sender, cmid);
  if (!k) return std::nullopt;
  auto found = read_events(k->conv, k->seq, k->seq, 1);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::optional<send_key> sqlite_txn::writer_find_key(user_id sender, const std::string& cmid) {
  if (auto k = keys_->find(db_, sender, cmid)) return k;
  if (!keys_->maybe_moved(sender, cmid)) return std::nullopt;
  auto& s = db_.prepare(
      "SELECT conv_id, seq, event_id, ts_ms FROM send_keys WHERE sender_id = ? AND client_msg_id = "
      "?");
  s.bind(1, sender).bind(2, cmid);
  if (!s.step()) return std::nullopt;
  return send_key{s.i64(0), s.i64(1), s.text(2), s.i64(3)};
}

std::optional<send_key> sqlite_txn::find_send_key(user_id sender, const std::string& cmid) {
  if (keys_) {
    if (auto k = writer_find_key(sender, cmid)) return k;
    absent_.emplace(sender, cmid);
    return std::nullopt;
  }
  // A reader: send_keys, then the events whose keys have not moved there yet (the newest of
  // each conversation, above its keys_seq; a scan of the few the writer keeps waiting).
  // The unary + keeps SQLite from building an automatic index over all of events for the
  // key columns instead of reading those id ranges.
  auto& s = db_.prepare(
      "SELECT conv_id, seq, event_id, ts_ms FROM send_keys WHERE sender_id = ? AND client_msg_id = "
      "? UNION ALL SELECT e.conv_id, e.seq, e.event_id, e.ts_ms FROM conversations c JOIN events "
      "e ON e.id > c.id * 4294967296 + c.keys_seq AND e.id < (c.id + 1) * 4294967296 "
      "WHERE +e.sender_id = ? AND +e.client_msg_id = ? LIMIT 1");
  s.bind(1, sender).bind(2, cmid).bind(3, sender).bind(4, cmid);
  if (!s.step()) return std::nullopt;
  return send_key{s.i64(0), s.i64(1), s.text(2), s.i64(3)};
}

result<user> sqlite_txn::insert_user(const std::string& handle, const std::string& pw_hash,
                                     std::int64_t now_ms) {
  if (find_user_by_handle(handle)) return make_error(errc::conflict, "handle is taken", "handle");
  auto& s = db_.prepare("INSERT INTO users(handle, pw_hash, created_ms) VALUES (?, ?, ?)");
  s.bind(1, handle).bind(2, pw_hash).bind(3, now_ms).run();
  return user{sqlite3_last_insert_rowid(db_.handle()), handle};
}

device_id sqlite_txn::insert_device(user_id u, const std::string& token_hash, std::int64_t now_ms,
                                    std::int64_t expires_ms) {
  auto& s = db_.prepare(
      "INSERT INTO devices(user_id, token_hash, created_ms, expires_ms) VALUES (?, ?, ?, ?)");
  s.bind(1, u).bind_blob(2, token_hash).bind(3, now_ms).bind(4, expires_ms).run();
  return sqlite3_last_insert_rowid(db_.handle());
}

bool sqlite_txn::replace_token(device_id d, const std::string& token_hash,
                               std::int64_t expires_ms) {
  db_.prepare("UPDATE devices SET token_hash = ?, expires_ms = ? WHERE id = ?")
      .bind_blob(1, token_hash)
      .bind(2, expires_ms)
      .bind(3, d)
      .run();
  return db_.changes() > 0;
}

void sqlite_txn::set_password(user_id u, const std::string& pw_hash) {
  db_.prepare("UPDATE users SET pw_hash = ? WHERE id = ?").bind(1, pw_hash).bind(2, u).run();
}

std::vector<device_id> sqlite_txn::delete_devices_of(user_id u, device_id keep) {
  std::vector<device_id> ids;
  auto& s = db_.prepare("SELECT id FROM devices WHERE user_id = ? AND id <> ? ORDER BY id");
  s.bind(1, u).bind(2, keep);
  while (s.step()) ids.push_back(s.i64(0));
  for (auto d : ids) delete_device(d);
  return ids;
}

bool sqlite_txn::delete_device(device_id d) {
  auto& s = db_.prepare("DELETE FROM devices WHERE id = ?");
  s.bind(1, d).run();
  bool gone = db_.changes() > 0;
  // Its delivered positions go with it (the user's own stay).
  db_.prepare("DELETE FROM device_delivered WHERE device_id = ?").bind(1, d).run();
  return gone;
}

conv_id sqlite_txn::insert_conversation(conv_kind k, const std::string& title,
                                        std::optional<std::pair<user_id, user_id>> pair,
                                        std::int64_t now_ms) {
  auto& s = db_.prepare(
      "INSERT INTO conversations(kind, title, direct_lo, direct_hi, created_ms) VALUES "
      "(?,?,?,?,?)");
  s.bind(1, std::string_view(to_string(k))).bind(2, title);
  if (pair) {
    s.bind(3, std::min(pair->first, pair->second)).bind(4, std::max(pair->first, pair->second));
  } else {
    s.bind_null(3).bind_null(4);
  }
  s.bind(5, now_ms).run();
  return sqlite3_last_insert_rowid(db_.handle());
}

void sqlite_txn::set_title(conv_id c, const std::string& title) {
  db_.prepare("UPDATE conversations SET title = ? WHERE id = ?").bind(1, title).bind(2, c).run();
}

void sqlite_txn::put_member(conv_id c, user_id u, role r, seq_t joined_seq) {
  auto& s = db_.prepare(
      "INSERT INTO members(conv_id, user_id, role, joined_seq, left_seq) VALUES (?,?,?,?,NULL) "
      "ON CONFLICT(conv_id, user_id) DO UPDATE SET role = excluded.role, "
      "joined_seq = excluded.joined_seq, left_seq = NULL");
  s.bind(1, c).bind(2, u).bind(3, std::string_view(to_string(r))).bind(4, joined_seq).run();
}

void sqlite_txn::set_member_left(conv_id c, user_id u, seq_t left_seq) {
  db_.prepare("UPDATE members SET left_seq = ? WHERE conv_id = ? AND user_id = ?")
      .bind(1, left_seq)
      .bind(2, c)
      .bind(3, u)
      .run();
}

void sqlite_txn::set_member_role(conv_id c, user_id u, role r) {
  db_.prepare("UPDATE members SET role = ? WHERE conv_id = ? AND user_id = ?")
      .bind(1, std::string_view(to_string(r)))
      .bind(2, c)
      .bind(3, u)
      .run();
}

// Conversations whose last_seq the writer remembers at most (then it starts over).
constexpr std::size_t kLastSeqsRemembered = 100'000;

void sqlite_txn::append_event(event& ev) {
  append(ev, nullptr);
}

void sqlite_txn::append_message(event& ev, message_state& m) {
  append(ev, &m);
}

void sqlite_txn::append(event& ev, message_state* m) {
  if (!keys_) throw sqlite_error(SQLITE_MISUSE, "append_event: not the writer's transaction");
  if (!ev.client_msg_id.empty()) {
    // A key is unique: in neither the buffer nor send_keys. A send's find_send_key has just
    // looked (absent_); only this append can have added the key since.
    bool known_absent =
        absent_ && absent_->first == ev.sender && absent_->second == ev.client_msg_id;
    if (!known_absent && writer_find_key(ev.sender, ev.client_msg_id))
      throw sqlite_error(SQLITE_CONSTRAINT, "append_event: client_msg_id already used");
    absent_.reset();
  }
  // Read, then write the conversation's last seq (the writer is the only writer). Not
  // UPDATE ... RETURNING: SQLite buffers RETURNING rows in an ephemeral table per run,
  // which cost more than the append itself.
  if (auto it = last_seq_.find(ev.conv); it != last_seq_.end()) {
    ev.seq = it->second + 1;
  } else {
    auto& q = db_.prepare("SELECT last_seq FROM conversations WHERE id = ?");
    q.bind(1, ev.conv);
    if (!q.step()) throw sqlite_error(SQLITE_NOTFOUND, "append_event: no such conversation");
    ev.seq = q.i64(0) + 1;
    q.reset();
  }
  // The row id holds the seq in its low 32 bits: one more would be the next conversation's.
  if (ev.seq >= kMessageSeqSpan)
    throw sqlite_error(SQLITE_FULL, "append_event: the conversation's log is full");
  if (!defer_last_seq_) {
    db_.prepare("UPDATE conversations SET last_seq = ? WHERE id = ?")
        .bind(1, ev.seq)
        .bind(2, ev.conv)
        .run();
  }
  // One row for the event and, for a message, its state (schema migration 12).
  static const std::string event_only =
      "INSERT INTO events(id, conv_id, seq, event_id, ts_ms, type, sender_id, client_msg_id, "
      "data) VALUES (?,?,?,?,?,?,?,?,?)";
  static const std::string with_message =
      "INSERT INTO events(id, conv_id, seq, event_id, ts_ms, type, sender_id, client_msg_id, "
      "data, thread_root, created_ms, text, reply_to, mentions, reply_count, search_ticket) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?)";
  std::int64_t ticket = 0;
  std::string mentions;  // bound as a view: it must live until the statement has run
  if (m) {
    m->seq = ev.seq;
    m->created_ms = ev.ts_ms;
    ticket = message_ticket(*m);
    mentions = join_ids(m->mentions);
  }
  auto& s = db_.prepare(m ? with_message : event_only);
  s.bind(1, message_row_id(ev.conv, ev.seq))
      .bind(2, ev.conv)
      .bind(3, ev.seq)
      .bind(4, ev.id)
      .bind(5, ev.ts_ms)
      .bind(6, ev.type)
      .bind(7, ev.sender);
  if (ev.client_msg_id.empty()) {
    s.bind_null(8);
  } else {
    s.bind(8, ev.client_msg_id);
  }
  s.bind(9, ev.data);
  if (m) {
    s.bind(10, m->thread.value_or(0))
        .bind(11, m->created_ms)
        .bind(12, m->text)
        .bind(13, m->reply_to)
        .bind(14, mentions)
        .bind(15, ticket);
  }
  s.run();
  if (m) message_rows_added(*m, ticket);
  if (!ev.client_msg_id.empty()) keys_->add(ev.sender, ev.client_msg_id, ev.conv, ev.seq);
  if (last_seq_.size() >= kLastSeqsRemembered) {
    save_last_seqs();  // what is forgotten must be in the row
    last_seq_.clear();
  }
  last_seq_[ev.conv] = ev.seq;  // every statement above succeeded
  if (defer_last_seq_) unsaved_seq_[ev.conv] = ev.seq;
}

void sqlite_txn::before_commit() {
  save_last_seqs();
  if (keys_) keys_->before_commit(db_);
}

void sqlite_txn::committed() {
  absent_.reset();
  next_ticket_ = 0;
  if (keys_) keys_->committed();
}

void sqlite_txn::rolled_back() {
  absent_.reset();
  next_ticket_ = 0;
  if (keys_) keys_->rolled_back(db_);
}

void sqlite_txn::save_last_seqs() {
  if (unsaved_seq_.empty()) return;
  auto& u = db_.prepare("UPDATE conversations SET last_seq = ? WHERE id = ?");
  for (const auto& [conv, seq] : unsaved_seq_) {
    u.bind(1, seq).bind(2, conv).run();
    u.reset();
  }
  saved_rows_ += static_cast<std::int64_t>(unsaved_seq_.size());
  unsaved_seq_.clear();
}

seq_t sqlite_txn::prune_before(conv_id c, seq_t before_seq) {
  auto conv = find_conversation(c);
  if (!conv) return 0;
  seq_t first = std::clamp<seq_t>(before_seq, conv->first_seq, conv->last_seq + 1);
  // Keys outlive their events: the waiting ones move into send_keys first.
  if (keys_) keys_->move_conversation(db_, c);
  // The events' rows hold their messages' state too (schema migration 12).
  db_.prepare("DELETE FROM events WHERE id >= ? AND id < ?")
      .bind(1, message_row_id(c, 0))
      .bind(2, message_row_id(c, first))
      .run();
  prune_messages(c, first);  // what else the pruned messages had goes with them
  db_.prepare("UPDATE conversations SET first_seq = ? WHERE id = ?")
      .bind(1, first)
      .bind(2, c)
      .run();
  return first;
}

}  // namespace parley::sqlite
