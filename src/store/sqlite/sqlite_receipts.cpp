// sqlite_txn: receipts (delivered and read positions), presence preferences, contacts.
#include "store/sqlite/sqlite_txn.hpp"

namespace parley::sqlite {

std::vector<receipt> sqlite_txn::list_receipts(conv_id c, seq_t root) {
  auto& s = db_.prepare(
      "SELECT mb.user_id, CASE WHEN ?2 = 0 THEN coalesce(d.seq, 0) ELSE 0 END, "
      "coalesce(r.seq, 0), coalesce(p.private_receipts, 0) "
      "FROM members mb "
      "LEFT JOIN user_delivered d ON d.conv_id = mb.conv_id AND d.user_id = mb.user_id "
      "LEFT JOIN read_pointers r ON r.conv_id = mb.conv_id AND r.user_id = mb.user_id "
      "AND r.root = ?2 "
      "LEFT JOIN user_prefs p ON p.user_id = mb.user_id "
      "WHERE mb.conv_id = ?1 AND mb.left_seq IS NULL ORDER BY mb.user_id");
  s.bind(1, c).bind(2, root);
  std::vector<receipt> out;
  while (s.step()) out.push_back({s.i64(0), s.i64(1), s.i64(2), s.i64(3) != 0});
  return out;
}

seq_t sqlite_txn::find_delivered(user_id u, conv_id c) {
  auto& s = db_.prepare("SELECT seq FROM user_delivered WHERE conv_id = ? AND user_id = ?");
  s.bind(1, c).bind(2, u);
  seq_t v = s.step() ? s.i64(0) : 0;
  s.reset();
  return v;
}

user_prefs sqlite_txn::find_prefs(user_id u) {
  auto& s = db_.prepare(
      "SELECT private_receipts, invisible, last_seen_ms FROM user_prefs WHERE user_id = ?");
  s.bind(1, u);
  user_prefs p;
  if (s.step()) p = {s.i64(0) != 0, s.i64(1) != 0, s.i64(2)};
  s.reset();
  return p;
}

std::vector<user_id> sqlite_txn::list_contacts(user_id u) {
  auto& s = db_.prepare(
      "SELECT DISTINCT o.user_id FROM members m JOIN members o ON o.conv_id = m.conv_id "
      "WHERE m.user_id = ?1 AND m.left_seq IS NULL AND o.left_seq IS NULL AND o.user_id <> ?1 "
      "ORDER BY o.user_id");
  s.bind(1, u);
  std::vector<user_id> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

seq_t sqlite_txn::advance_delivered(device_id d, user_id u, conv_id c, seq_t seq) {
  db_.prepare(
         "INSERT INTO device_delivered(device_id, conv_id, seq) VALUES (?,?,?) "
         "ON CONFLICT(device_id, conv_id) DO UPDATE SET seq = excluded.seq "
         "WHERE excluded.seq > device_delivered.seq")
      .bind(1, d)
      .bind(2, c)
      .bind(3, seq)
      .run();
  db_.prepare(
         "INSERT INTO user_delivered(conv_id, user_id, seq) VALUES (?,?,?) "
         "ON CONFLICT(conv_id, user_id) DO UPDATE SET seq = excluded.seq "
         "WHERE excluded.seq > user_delivered.seq")
      .bind(1, c)
      .bind(2, u)
      .bind(3, seq)
      .run();
  return db_.changes() > 0 ? seq : 0;
}

void sqlite_txn::put_prefs(user_id u, bool private_receipts, bool invisible) {
  db_.prepare(
         "INSERT INTO user_prefs(user_id, private_receipts, invisible) VALUES (?,?,?) "
         "ON CONFLICT(user_id) DO UPDATE SET private_receipts = excluded.private_receipts, "
         "invisible = excluded.invisible")
      .bind(1, u)
      .bind(2, std::int64_t{private_receipts})
      .bind(3, std::int64_t{invisible})
      .run();
}

void sqlite_txn::set_last_seen(user_id u, std::int64_t ms) {
  db_.prepare(
         "INSERT INTO user_prefs(user_id, last_seen_ms) VALUES (?,?) "
         "ON CONFLICT(user_id) DO UPDATE SET last_seen_ms = max(last_seen_ms, "
         "excluded.last_seen_ms)")
      .bind(1, u)
      .bind(2, ms)
      .run();
}

}  // namespace parley::sqlite
