// sqlite_txn: uploads (what blob_store holds, who uploaded it, which messages carry it).
#include "store/sqlite/sqlite_txn.hpp"

namespace parley::sqlite {

namespace {

upload_info read_upload(const stmt& s, int col) {
  upload_info u;
  u.id = s.text(col);
  u.size = s.i64(col + 1);
  u.type = s.text(col + 2);
  u.width = static_cast<std::int32_t>(s.i64(col + 3));
  u.height = static_cast<std::int32_t>(s.i64(col + 4));
  return u;
}

}  // namespace

std::optional<upload_info> sqlite_txn::find_upload(const std::string& id) {
  auto& s = db_.prepare("SELECT id, size, type, width, height FROM uploads WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  auto u = read_upload(s, 0);
  s.reset();
  return u;
}

bool sqlite_txn::owns_upload(user_id u, const std::string& id) {
  auto& s = db_.prepare("SELECT 1 FROM upload_owners WHERE upload_id = ? AND user_id = ?");
  s.bind(1, id).bind(2, u);
  bool found = s.step();
  s.reset();
  return found;
}

bool sqlite_txn::sees_upload(user_id u, const std::string& id) {
  // Deleted and pruned messages no longer carry anything (their rows are gone).
  auto& s = db_.prepare(
      "SELECT 1 FROM message_attachments a JOIN members mb "
      "ON mb.conv_id = a.conv_id AND mb.user_id = ?2 "
      "WHERE a.upload_id = ?1 AND (mb.left_seq IS NULL OR a.seq <= mb.left_seq) LIMIT 1");
  s.bind(1, id).bind(2, u);
  bool found = s.step();
  s.reset();
  return found;
}

std::vector<std::pair<seq_t, attachment>> sqlite_txn::list_attachments(conv_id c, seq_t from_seq,
                                                                       seq_t to_seq) {
  auto& s = db_.prepare(
      "SELECT a.seq, a.name, u.id, u.size, u.type, u.width, u.height "
      "FROM message_attachments a JOIN uploads u ON u.id = a.upload_id "
      "WHERE a.conv_id = ? AND a.seq >= ? AND a.seq <= ? ORDER BY a.seq, a.idx");
  s.bind(1, c).bind(2, from_seq).bind(3, to_seq);
  std::vector<std::pair<seq_t, attachment>> out;
  while (s.step()) {
    attachment a;
    a.name = s.text(1);
    a.upload = read_upload(s, 2);
    out.emplace_back(s.i64(0), std::move(a));
  }
  return out;
}

void sqlite_txn::put_upload(const upload_info& u, user_id owner, std::int64_t now_ms) {
  db_.prepare(
         "INSERT INTO uploads(id, size, type, width, height, created_ms, touched_ms) "
         "VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET touched_ms = excluded.touched_ms")
      .bind(1, u.id)
      .bind(2, u.size)
      .bind(3, u.type)
      .bind(4, std::int64_t{u.width})
      .bind(5, std::int64_t{u.height})
      .bind(6, now_ms)
      .bind(7, now_ms)
      .run();
  db_.prepare(
         "INSERT INTO upload_owners(upload_id, user_id, ts_ms) VALUES (?,?,?) "
         "ON CONFLICT(upload_id, user_id) DO UPDATE SET ts_ms = excluded.ts_ms")
      .bind(1, u.id)
      .bind(2, owner)
      .bind(3, now_ms)
      .run();
}

void sqlite_txn::add_attachments(conv_id c, seq_t seq, const std::vector<attachment>& a) {
  for (std::size_t i = 0; i < a.size(); ++i)
    db_.prepare(
           "INSERT INTO message_attachments(conv_id, seq, idx, upload_id, name) VALUES (?,?,?,?,?)")
        .bind(1, c)
        .bind(2, seq)
        .bind(3, static_cast<std::int64_t>(i))
        .bind(4, a[i].upload.id)
        .bind(5, a[i].name)
        .run();
}

void sqlite_txn::detach_uploads(conv_id c, seq_t from_seq, seq_t to_seq, std::int64_t ms) {
  db_.prepare(
         "UPDATE uploads SET touched_ms = max(touched_ms, ?3) WHERE id IN "
         "(SELECT upload_id FROM message_attachments WHERE conv_id = ?1 AND seq >= ?2 "
         "AND seq <= ?4)")
      .bind(1, c)
      .bind(2, from_seq)
      .bind(3, ms)
      .bind(4, to_seq)
      .run();
  db_.prepare("DELETE FROM message_attachments WHERE conv_id = ? AND seq >= ? AND seq <= ?")
      .bind(1, c)
      .bind(2, from_seq)
      .bind(3, to_seq)
      .run();
}

std::vector<std::string> sqlite_txn::collect_uploads(std::int64_t cutoff_ms, std::size_t limit) {
  auto& s = db_.prepare(
      "SELECT id FROM uploads u WHERE touched_ms < ? AND NOT EXISTS "
      "(SELECT 1 FROM message_attachments a WHERE a.upload_id = u.id) "
      "ORDER BY touched_ms LIMIT ?");
  s.bind(1, cutoff_ms).bind(2, static_cast<std::int64_t>(limit));
  std::vector<std::string> ids;
  while (s.step()) ids.push_back(s.text(0));
  s.reset();
  for (const auto& id : ids) {
    db_.prepare("DELETE FROM uploads WHERE id = ?").bind(1, id).run();
    db_.prepare("DELETE FROM upload_owners WHERE upload_id = ?").bind(1, id).run();
  }
  return ids;
}

}  // namespace parley::sqlite
