// pg_txn: users, devices, conversations, members and the event log.
#include "store/pg/pg_txn.hpp"

#include <algorithm>

namespace parley::pg {

namespace {

conversation read_conversation(const rows& r, int i, int o) {
  conversation c;
  c.id = r.i64(i, o);
  c.kind = r.text(i, o + 1) == "direct" ? conv_kind::direct : conv_kind::group;
  c.title = r.text(i, o + 2);
  c.last_seq = r.i64(i, o + 3);
  c.first_seq = r.i64(i, o + 4);
  c.created_ms = r.i64(i, o + 5);
  return c;
}
constexpr const char* kConvCols = "c.id, c.kind, c.title, c.last_seq, c.first_seq, c.created_ms";

membership read_membership(const rows& r, int i, int o) {
  membership m;
  m.conv = r.i64(i, o);
  m.u.id = r.i64(i, o + 1);
  m.u.handle = r.text(i, o + 2);
  m.role = parse_role(r.text(i, o + 3)).value_or(role::member);
  m.joined_seq = r.i64(i, o + 4);
  if (!r.is_null(i, o + 5)) m.left_seq = r.i64(i, o + 5);
  return m;
}
constexpr const char* kMemberCols =
    "m.conv_id, m.user_id, u.handle, m.role, m.joined_seq, m.left_seq";

event read_event(const rows& r, int i) {
  event e;
  e.conv = r.i64(i, 0);
  e.seq = r.i64(i, 1);
  e.id = r.text(i, 2);
  e.ts_ms = r.i64(i, 3);
  e.type = r.text(i, 4);
  e.sender = r.i64(i, 5);
  e.client_msg_id = r.text(i, 6);  // NULL reads as ""
  e.data = r.text(i, 7);
  return e;
}
constexpr const char* kEventCols = "conv_id, seq, id, ts_ms, type, sender_id, client_msg_id, data";

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out += p;
  return out;
}

std::int64_t count(std::size_t n) {
  return static_cast<std::int64_t>(std::min<std::size_t>(n, INT64_MAX));
}

}  // namespace

std::optional<credentials> pg_txn::find_user_by_handle(const std::string& handle) {
  auto r = db_.query("SELECT id, handle, pw_hash FROM users WHERE handle = $1", {p(handle)});
  if (r.empty()) return std::nullopt;
  return credentials{user{r.i64(0, 0), r.text(0, 1)}, r.text(0, 2)};
}

std::optional<user> pg_txn::find_user(user_id id) {
  auto r = db_.query("SELECT id, handle FROM users WHERE id = $1", {p(id)});
  if (r.empty()) return std::nullopt;
  return user{r.i64(0, 0), r.text(0, 1)};
}

std::optional<device_session> pg_txn::find_device_by_token_hash(const std::string& hash) {
  auto r = db_.query(
      "SELECT d.id, u.id, u.handle, d.expires_ms FROM devices d JOIN users u ON u.id = d.user_id "
      "WHERE d.token_hash = $1",
      {p_bytes(hash)});
  if (r.empty()) return std::nullopt;
  return device_session{r.i64(0, 0), user{r.i64(0, 1), r.text(0, 2)}, r.i64(0, 3)};
}

std::optional<conversation> pg_txn::find_conversation(conv_id id) {
  static const std::string sql =
      cat({"SELECT ", kConvCols, " FROM conversations c WHERE c.id = $1"});
  auto r = db_.query(sql, {p(id)});
  if (r.empty()) return std::nullopt;
  return read_conversation(r, 0, 0);
}

std::optional<conv_id> pg_txn::find_direct(user_id a, user_id b) {
  auto r = db_.query("SELECT id FROM conversations WHERE direct_lo = $1 AND direct_hi = $2",
                     {p(std::min(a, b)), p(std::max(a, b))});
  if (r.empty()) return std::nullopt;
  return r.i64(0, 0);
}

std::optional<membership> pg_txn::find_membership(conv_id c, user_id u) {
  static const std::string sql =
      cat({"SELECT ", kMemberCols,
           " FROM members m JOIN users u ON u.id = m.user_id WHERE m.conv_id = $1 AND m.user_id "
           "= $2"});
  auto r = db_.query(sql, {p(c), p(u)});
  if (r.empty()) return std::nullopt;
  return read_membership(r, 0, 0);
}

std::vector<membership> pg_txn::list_members(conv_id c) {
  static const std::string sql =
      cat({"SELECT ", kMemberCols,
           " FROM members m JOIN users u ON u.id = m.user_id"
           " WHERE m.conv_id = $1 AND m.left_seq IS NULL ORDER BY m.user_id"});
  auto r = db_.query(sql, {p(c)});
  std::vector<membership> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(read_membership(r, i, 0));
  return out;
}

std::vector<user_id> pg_txn::list_member_ids(conv_id c) {
  auto r = db_.query(
      "SELECT user_id FROM members WHERE conv_id = $1 AND left_seq IS NULL ORDER BY user_id",
      {p(c)});
  std::vector<user_id> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(r.i64(i, 0));
  return out;
}

std::vector<std::pair<conversation, membership>> pg_txn::list_conversations(user_id u) {
  static const std::string sql =
      cat({"SELECT ", kConvCols, ", ", kMemberCols,
           " FROM members m JOIN conversations c ON c.id = m.conv_id JOIN users u ON u.id = "
           "m.user_id WHERE m.user_id = $1 ORDER BY c.id"});
  auto r = db_.query(sql, {p(u)});
  std::vector<std::pair<conversation, membership>> out;
  for (int i = 0; i < r.size(); ++i)
    out.emplace_back(read_conversation(r, i, 0), read_membership(r, i, 6));
  return out;
}

std::vector<event> pg_txn::read_events(conv_id c, seq_t from_seq, seq_t to_seq, std::size_t limit) {
  static const std::string sql =
      cat({"SELECT ", kEventCols,
           " FROM events WHERE conv_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4"});
  auto r = db_.query(sql, {p(c), p(from_seq), p(to_seq), p(count(limit))});
  std::vector<event> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(read_event(r, i));
  return out;
}

std::vector<event> pg_txn::read_events_desc(conv_id c, seq_t from_seq, seq_t to_seq,
                                            std::size_t limit) {
  static const std::string sql = cat(
      {"SELECT ", kEventCols,
       " FROM events WHERE conv_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq DESC LIMIT $4"});
  auto r = db_.query(sql, {p(c), p(from_seq), p(to_seq), p(count(limit))});
  std::vector<event> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(read_event(r, i));
  return out;
}

std::optional<event> pg_txn::find_event_by_client_msg_id(user_id sender, const std::string& cmid) {
  static const std::string sql =
      cat({"SELECT ", kEventCols, " FROM events WHERE sender_id = $1 AND client_msg_id = $2"});
  auto r = db_.query(sql, {p(sender), p(cmid)});
  if (r.empty()) return std::nullopt;
  return read_event(r, 0);
}

std::optional<send_key> pg_txn::find_send_key(user_id sender, const std::string& cmid) {
  auto r = db_.query(
      "SELECT conv_id, seq, event_id, ts_ms FROM send_keys WHERE sender_id = $1 AND "
      "client_msg_id = $2",
      {p(sender), p(cmid)});
  if (r.empty()) return std::nullopt;
  return send_key{r.i64(0, 0), r.i64(0, 1), r.text(0, 2), r.i64(0, 3)};
}

result<user> pg_txn::insert_user(const std::string& handle, const std::string& pw_hash,
                                 std::int64_t now_ms) {
  // Another node may take the handle between this check and the insert: then the insert
  // fails on the unique index, the batch runs again and this check sees the handle.
  if (find_user_by_handle(handle)) return make_error(errc::conflict, "handle is taken", "handle");
  auto r =
      db_.query("INSERT INTO users(handle, pw_hash, created_ms) VALUES ($1, $2, $3) RETURNING id",
                {p(handle), p(pw_hash), p(now_ms)});
  return user{r.i64(0, 0), handle};
}

device_id pg_txn::insert_device(user_id u, const std::string& token_hash, std::int64_t now_ms,
                                std::int64_t expires_ms) {
  auto r = db_.query(
      "INSERT INTO devices(user_id, token_hash, created_ms, expires_ms) VALUES ($1, $2, $3, $4) "
      "RETURNING id",
      {p(u), p_bytes(token_hash), p(now_ms), p(expires_ms)});
  return r.i64(0, 0);
}

bool pg_txn::replace_token(device_id d, const std::string& token_hash, std::int64_t expires_ms) {
  return db_.query("UPDATE devices SET token_hash = $1, expires_ms = $2 WHERE id = $3",
                   {p_bytes(token_hash), p(expires_ms), p(d)})
             .affected() > 0;
}

void pg_txn::set_password(user_id u, const std::string& pw_hash) {
  db_.query("UPDATE users SET pw_hash = $1 WHERE id = $2", {p(pw_hash), p(u)});
}

std::vector<device_id> pg_txn::delete_devices_of(user_id u, device_id keep) {
  std::vector<device_id> ids;
  auto r = db_.query("SELECT id FROM devices WHERE user_id = $1 AND id <> $2 ORDER BY id",
                     {p(u), p(keep)});
  for (int i = 0; i < r.size(); ++i) ids.push_back(r.i64(i, 0));
  for (auto d : ids) delete_device(d);
  return ids;
}

bool pg_txn::delete_device(device_id d) {
  bool gone = db_.query("DELETE FROM devices WHERE id = $1", {p(d)}).affected() > 0;
  // Its delivered positions go with it (the user's own stay).
  db_.query("DELETE FROM device_delivered WHERE device_id = $1", {p(d)});
  return gone;
}

conv_id pg_txn::insert_conversation(conv_kind k, const std::string& title,
                                    std::optional<std::pair<user_id, user_id>> pair,
                                    std::int64_t now_ms) {
  auto lo = pair ? p(std::min(pair->first, pair->second)) : p_null();
  auto hi = pair ? p(std::max(pair->first, pair->second)) : p_null();
  auto r = db_.query(
      "INSERT INTO conversations(kind, title, direct_lo, direct_hi, created_ms) VALUES "
      "($1, $2, $3, $4, $5) RETURNING id",
      {p(std::string_view(to_string(k))), p(title), lo, hi, p(now_ms)});
  return r.i64(0, 0);
}

void pg_txn::set_title(conv_id c, const std::string& title) {
  db_.query("UPDATE conversations SET title = $1 WHERE id = $2", {p(title), p(c)});
}

void pg_txn::put_member(conv_id c, user_id u, role r, seq_t joined_seq) {
  db_.query(
      "INSERT INTO members(conv_id, user_id, role, joined_seq, left_seq) VALUES ($1,$2,$3,$4,NULL) "
      "ON CONFLICT(conv_id, user_id) DO UPDATE SET role = excluded.role, "
      "joined_seq = excluded.joined_seq, left_seq = NULL",
      {p(c), p(u), p(std::string_view(to_string(r))), p(joined_seq)});
}

void pg_txn::set_member_left(conv_id c, user_id u, seq_t left_seq) {
  db_.query("UPDATE members SET left_seq = $1 WHERE conv_id = $2 AND user_id = $3",
            {p(left_seq), p(c), p(u)});
}

void pg_txn::set_member_role(conv_id c, user_id u, role r) {
  db_.query("UPDATE members SET role = $1 WHERE conv_id = $2 AND user_id = $3",
            {p(std::string_view(to_string(r))), p(c), p(u)});
}

void pg_txn::append_event(event& ev) {
  // The conversation's row lock, held to the commit, orders the writers of one
  // conversation on every node; the next seq is read under it, so seqs are gapless. A
  // rolled-back append gives its seq back with the rest of its transaction. One statement
  // (one round trip): the seq, the event and its send key. The send key is unique: a
  // second (sender, client_msg_id), from this node or another, throws here.
  auto r = db_.query(
      "WITH s AS (UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1::BIGINT "
      "RETURNING last_seq), "
      "e AS (INSERT INTO events(conv_id, seq, id, ts_ms, type, sender_id, client_msg_id, data) "
      "SELECT $1::BIGINT, last_seq, $2::TEXT, $3::BIGINT, $4::TEXT, $5::BIGINT, $6::TEXT, "
      "$7::TEXT FROM s), "
      "k AS (INSERT INTO send_keys(sender_id, client_msg_id, conv_id, seq, event_id, ts_ms) "
      "SELECT $5::BIGINT, $6::TEXT, $1::BIGINT, last_seq, $2::TEXT, $3::BIGINT FROM s "
      "WHERE $6::TEXT IS NOT NULL) "
      "SELECT last_seq FROM s",
      {p(ev.conv), p(ev.id), p(ev.ts_ms), p(ev.type), p(ev.sender),
       ev.client_msg_id.empty() ? p_null() : p(ev.client_msg_id), p(ev.data)});
  if (r.empty()) throw pg_error("", "append_event: no such conversation");
  ev.seq = r.i64(0, 0);
}

seq_t pg_txn::prune_before(conv_id c, seq_t before_seq) {
  // Locks the row first: an append on another node cannot move last_seq meanwhile.
  auto r =
      db_.query("SELECT first_seq, last_seq FROM conversations WHERE id = $1 FOR UPDATE", {p(c)});
  if (r.empty()) return 0;
  seq_t first = std::clamp<seq_t>(before_seq, r.i64(0, 0), r.i64(0, 1) + 1);
  db_.query("DELETE FROM events WHERE conv_id = $1 AND seq < $2", {p(c), p(first)});
  prune_messages(c, first);  // the message state of the pruned events goes with them
  db_.query("UPDATE conversations SET first_seq = $1 WHERE id = $2", {p(first), p(c)});
  return first;
}

}  // namespace parley::pg
