// pg_txn: uploads (what blob_store holds, who uploaded it, which messages carry it).
#include "store/pg/pg_txn.hpp"

namespace parley::pg {

namespace {

upload_info read_upload(const rows& r, int i, int col) {
  upload_info u;
  u.id = r.text(i, col);
  u.size = r.i64(i, col + 1);
  u.type = r.text(i, col + 2);
  u.width = static_cast<std::int32_t>(r.i64(i, col + 3));
  u.height = static_cast<std::int32_t>(r.i64(i, col + 4));
  return u;
}

}  // namespace

std::optional<upload_info> pg_txn::find_upload(const std::string& id) {
  auto r = db_.query("SELECT id, size, type, width, height FROM uploads WHERE id = $1", {p(id)});
  if (r.empty()) return std::nullopt;
  return read_upload(r, 0, 0);
}

bool pg_txn::owns_upload(user_id u, const std::string& id) {
  return !db_.query("SELECT 1 FROM upload_owners WHERE upload_id = $1 AND user_id = $2",
                    {p(id), p(u)})
              .empty();
}

bool pg_txn::sees_upload(user_id u, const std::string& id) {
  // Deleted and pruned messages no longer carry anything (their rows are gone).
  return !db_.query(
                 "SELECT 1 FROM message_attachments a JOIN members mb "
                 "ON mb.conv_id = a.conv_id AND mb.user_id = $2 "
                 "WHERE a.upload_id = $1 AND (mb.left_seq IS NULL OR a.seq <= mb.left_seq) "
                 "LIMIT 1",
                 {p(id), p(u)})
              .empty();
}

std::vector<std::pair<seq_t, attachment>> pg_txn::list_attachments(conv_id c, seq_t from_seq,
                                                                   seq_t to_seq) {
  auto r = db_.query(
      "SELECT a.seq, a.name, u.id, u.size, u.type, u.width, u.height "
      "FROM message_attachments a JOIN uploads u ON u.id = a.upload_id "
      "WHERE a.conv_id = $1 AND a.seq >= $2 AND a.seq <= $3 ORDER BY a.seq, a.idx",
      {p(c), p(from_seq), p(to_seq)});
  std::vector<std::pair<seq_t, attachment>> out;
  for (int i = 0; i < r.size(); ++i) {
    attachment a;
    a.name = r.text(i, 1);
    a.upload = read_upload(r, i, 2);
    out.emplace_back(r.i64(i, 0), std::move(a));
  }
  return out;
}

void pg_txn::put_upload(const upload_info& u, user_id owner, std::int64_t now_ms) {
  db_.query(
      "INSERT INTO uploads(id, size, type, width, height, created_ms, touched_ms) "
      "VALUES ($1,$2,$3,$4,$5,$6,$6) ON CONFLICT(id) DO UPDATE SET touched_ms = "
      "excluded.touched_ms",
      {p(u.id), p(u.size), p(u.type), p(std::int64_t{u.width}), p(std::int64_t{u.height}),
       p(now_ms)});
  db_.query(
      "INSERT INTO upload_owners(upload_id, user_id, ts_ms) VALUES ($1,$2,$3) "
      "ON CONFLICT(upload_id, user_id) DO UPDATE SET ts_ms = excluded.ts_ms",
      {p(u.id), p(owner), p(now_ms)});
}

void pg_txn::add_attachments(conv_id c, seq_t seq, const std::vector<attachment>& a) {
  for (std::size_t i = 0; i < a.size(); ++i)
    db_.query(
        "INSERT INTO message_attachments(conv_id, seq, idx, upload_id, name) "
        "VALUES ($1,$2,$3,$4,$5)",
        {p(c), p(seq), p(static_cast<std::int64_t>(i)), p(a[i].upload.id), p(a[i].name)});
}

void pg_txn::detach_uploads(conv_id c, seq_t from_seq, seq_t to_seq, std::int64_t ms) {
  db_.query(
      "UPDATE uploads SET touched_ms = greatest(touched_ms, $3) WHERE id IN "
      "(SELECT upload_id FROM message_attachments WHERE conv_id = $1 AND seq >= $2 "
      "AND seq <= $4)",
      {p(c), p(from_seq), p(ms), p(to_seq)});
  db_.query("DELETE FROM message_attachments WHERE conv_id = $1 AND seq >= $2 AND seq <= $3",
            {p(c), p(from_seq), p(to_seq)});
}

std::vector<std::string> pg_txn::collect_uploads(std::int64_t cutoff_ms, std::size_t limit) {
  // SKIP LOCKED: two nodes collecting at once take different uploads.
  auto r = db_.query(
      "SELECT id FROM uploads u WHERE touched_ms < $1 AND NOT EXISTS "
      "(SELECT 1 FROM message_attachments a WHERE a.upload_id = u.id) "
      "ORDER BY touched_ms LIMIT $2 FOR UPDATE SKIP LOCKED",
      {p(cutoff_ms), p(static_cast<std::int64_t>(limit))});
  std::vector<std::string> ids;
  for (int i = 0; i < r.size(); ++i) ids.push_back(r.text(i, 0));
  for (const auto& id : ids) {
    db_.query("DELETE FROM uploads WHERE id = $1", {p(id)});
    db_.query("DELETE FROM upload_owners WHERE upload_id = $1", {p(id)});
  }
  return ids;
}

}  // namespace parley::pg
