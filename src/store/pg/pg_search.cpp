// pg_txn: full-text search. A message's terms are the tsvector column messages.tsv
// (the 'simple' configuration: lower-cased words, no stemming, no stop words) under a GIN
// index. New messages wait in search_pending until index_pending fills their tsv in a
// batch; edits re-index at once and deletes empty it. The GIN index takes new entries
// into its pending list (fastupdate), which purge_search_index and compact_search_index
// merge into the main index.
#include "store/pg/pg_search_query.hpp"
#include "store/pg/pg_txn.hpp"

namespace parley::pg {

namespace {

// ts_headline options matching the SQLite backend's snippets: hits between \x01 and
// \x02, about 16 words around them.
constexpr const char* kHeadlineOptions =
    "StartSel=\"\x01\", StopSel=\"\x02\", MaxWords=16, MinWords=8, ShortWord=0";

}  // namespace

std::vector<search_hit> pg_txn::search_messages(user_id u, const search_query& q) {
  auto tsquery = to_tsquery_text(q.match);  // throws on a malformed query
  // Membership is part of the query: only conversations u is (or was, up to leaving) in.
  // ts_headline is costly, so PostgreSQL computes it after the sort and limit, for the
  // page's hits only.
  auto r = db_.query(
      "SELECT m.conv_id, m.seq, m.sender_id, m.created_ms, m.thread_root, m.id, "
      "ts_headline('simple', m.text, tq, $10) "
      "FROM to_tsquery('simple', $2) AS tq, members mb JOIN messages m ON m.conv_id = mb.conv_id "
      "WHERE mb.user_id = $1::BIGINT AND ($3::BIGINT = 0 OR mb.conv_id = $3::BIGINT) "
      "AND m.tsv @@ tq AND m.deleted_ms IS NULL "
      "AND (mb.left_seq IS NULL OR m.seq <= mb.left_seq) "
      "AND ($4::BIGINT = 0 OR m.sender_id = $4::BIGINT) "
      "AND ($5::BIGINT = 0 OR m.created_ms < $5::BIGINT) "
      "AND ($6::BIGINT = 0 OR m.created_ms > $6::BIGINT) "
      "AND ($7::BIGINT = 0 OR m.created_ms < $7::BIGINT OR "
      "(m.created_ms = $7::BIGINT AND m.id < $8::BIGINT)) "
      "ORDER BY m.created_ms DESC, m.id DESC LIMIT $9",
      {p(u), p(tsquery), p(q.conv), p(q.sender), p(q.before_ms), p(q.after_ms), p(q.cursor_ts),
       p(q.cursor_id), p(static_cast<std::int64_t>(q.limit)), p(kHeadlineOptions)});
  std::vector<search_hit> out;
  for (int i = 0; i < r.size(); ++i) {
    search_hit h;
    h.conv = r.i64(i, 0);
    h.seq = r.i64(i, 1);
    h.sender = r.i64(i, 2);
    h.ts_ms = r.i64(i, 3);
    if (auto root = r.i64(i, 4); root != 0) h.thread = root;
    h.row_id = r.i64(i, 5);
    h.snippet = r.text(i, 6);
    out.push_back(std::move(h));
  }
  return out;
}

std::size_t pg_txn::index_pending(std::size_t limit) {
  // SKIP LOCKED: indexers on two nodes take different batches.
  auto taken = db_.query(
      "DELETE FROM search_pending WHERE n IN (SELECT n FROM search_pending ORDER BY n "
      "LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING msg_id",
      {p(static_cast<std::int64_t>(limit))});
  if (taken.empty()) return 0;
  std::string ids = "{";
  for (int i = 0; i < taken.size(); ++i) {
    if (i > 0) ids += ',';
    ids += taken.text(i, 0);
  }
  ids += '}';
  // Gone (pruned), emptied (deleted) or already indexed: nothing to add.
  db_.query(
      "UPDATE messages SET indexed = TRUE, "
      "tsv = CASE WHEN text <> '' THEN to_tsvector('simple', text) END "
      "WHERE id = ANY($1::BIGINT[]) AND NOT indexed",
      {p(ids)});
  return static_cast<std::size_t>(taken.size());
}

bool pg_txn::purge_search_index(std::size_t /*pages*/) {
  // A deleted message's entries leave the index with its row's tsvector; the GIN pending
  // list may still hold entries written before the delete. Cleaning it is bounded by
  // gin_pending_list_limit (4 MB by default), whatever `pages` asks for. Dead row versions
  // themselves are VACUUM's (autovacuum's) work.
  auto r = db_.query("SELECT pending FROM search_purge WHERE id = 1");
  if (r.empty() || !r.boolean(0, 0)) return false;
  if (db_.query("SELECT gin_clean_pending_list('messages_search'::regclass)").i64(0, 0) > 0)
    return true;
  db_.query("UPDATE search_purge SET pending = FALSE WHERE id = 1");
  return false;
}

bool pg_txn::compact_search_index(std::size_t /*pages*/) {
  // The GIN pending list is scanned in full by every search: merging it into the main
  // index makes searches cheaper (the counterpart of merging FTS5 segments).
  return db_.query("SELECT gin_clean_pending_list('messages_search'::regclass)").i64(0, 0) > 0;
}

}  // namespace parley::pg
