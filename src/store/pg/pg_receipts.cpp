// pg_txn: receipts (delivered and read positions), presence preferences, contacts.
#include "store/pg/pg_txn.hpp"

namespace parley::pg {

std::vector<receipt> pg_txn::list_receipts(conv_id c, seq_t root) {
  auto r = db_.query(
      "SELECT mb.user_id, CASE WHEN $2::BIGINT = 0 THEN coalesce(d.seq, 0) ELSE 0 END, "
      "coalesce(r.seq, 0), coalesce(p.private_receipts, FALSE) "
      "FROM members mb "
      "LEFT JOIN user_delivered d ON d.conv_id = mb.conv_id AND d.user_id = mb.user_id "
      "LEFT JOIN read_pointers r ON r.conv_id = mb.conv_id AND r.user_id = mb.user_id "
      "AND r.root = $2::BIGINT "
      "LEFT JOIN user_prefs p ON p.user_id = mb.user_id "
      "WHERE mb.conv_id = $1 AND mb.left_seq IS NULL ORDER BY mb.user_id",
      {p(c), p(root)});
  std::vector<receipt> out;
  for (int i = 0; i < r.size(); ++i)
    out.push_back({r.i64(i, 0), r.i64(i, 1), r.i64(i, 2), r.boolean(i, 3)});
  return out;
}

seq_t pg_txn::find_delivered(user_id u, conv_id c) {
  auto r =
      db_.query("SELECT seq FROM user_delivered WHERE conv_id = $1 AND user_id = $2", {p(c), p(u)});
  return r.empty() ? 0 : r.i64(0, 0);
}

user_prefs pg_txn::find_prefs(user_id u) {
  auto r = db_.query(
      "SELECT private_receipts, invisible, last_seen_ms FROM user_prefs WHERE user_id = $1",
      {p(u)});
  user_prefs out;
  if (!r.empty()) out = {r.boolean(0, 0), r.boolean(0, 1), r.i64(0, 2)};
  return out;
}

std::vector<user_id> pg_txn::list_contacts(user_id u) {
  auto r = db_.query(
      "SELECT DISTINCT o.user_id FROM members m JOIN members o ON o.conv_id = m.conv_id "
      "WHERE m.user_id = $1 AND m.left_seq IS NULL AND o.left_seq IS NULL AND o.user_id <> $1 "
      "ORDER BY o.user_id",
      {p(u)});
  std::vector<user_id> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(r.i64(i, 0));
  return out;
}

seq_t pg_txn::advance_delivered(device_id d, user_id u, conv_id c, seq_t seq) {
  db_.query(
      "INSERT INTO device_delivered(device_id, conv_id, seq) VALUES ($1,$2,$3) "
      "ON CONFLICT(device_id, conv_id) DO UPDATE SET seq = excluded.seq "
      "WHERE excluded.seq > device_delivered.seq",
      {p(d), p(c), p(seq)});
  auto moved = db_.query(
                      "INSERT INTO user_delivered(conv_id, user_id, seq) VALUES ($1,$2,$3) "
                      "ON CONFLICT(conv_id, user_id) DO UPDATE SET seq = excluded.seq "
                      "WHERE excluded.seq > user_delivered.seq",
                      {p(c), p(u), p(seq)})
                   .affected();
  return moved > 0 ? seq : 0;
}

void pg_txn::put_prefs(user_id u, bool private_receipts, bool invisible) {
  db_.query(
      "INSERT INTO user_prefs(user_id, private_receipts, invisible) VALUES ($1,$2,$3) "
      "ON CONFLICT(user_id) DO UPDATE SET private_receipts = excluded.private_receipts, "
      "invisible = excluded.invisible",
      {p(u), p(std::string_view(private_receipts ? "true" : "false")),
       p(std::string_view(invisible ? "true" : "false"))});
}

void pg_txn::set_last_seen(user_id u, std::int64_t ms) {
  db_.query(
      "INSERT INTO user_prefs(user_id, last_seen_ms) VALUES ($1,$2) "
      "ON CONFLICT(user_id) DO UPDATE SET last_seen_ms = greatest(user_prefs.last_seen_ms, "
      "excluded.last_seen_ms)",
      {p(u), p(ms)});
}

}  // namespace parley::pg
