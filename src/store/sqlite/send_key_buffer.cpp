#include "store/sqlite/send_key_buffer.hpp"

#include <sqlite3.h>

#include <algorithm>

#include "store/message_rows.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace parley::sqlite {

namespace {
void refuse_while_stale(bool stale) {
  if (stale)
    throw sqlite_error(SQLITE_ERROR, "idempotency keys are reloaded after the failed rollback");
}
}  // namespace

void send_key_buffer::clear() {
  index_.clear();
  by_conv_.clear();
  touched_.clear();
  moved_.clear();
  next_cursor_ = cursor_;
}

void send_key_buffer::load(db& d) {
  clear();
  stale_ = true;  // until every key is read
  auto& s = d.prepare(
      "SELECT e.conv_id, e.seq, e.sender_id, e.client_msg_id "
      "FROM conversations c JOIN events e ON e.id > c.id * 4294967296 + c.keys_seq "
      "AND e.id < (c.id + 1) * 4294967296 WHERE e.client_msg_id IS NOT NULL ORDER BY c.id, e.id");
  while (s.step()) {
    auto c = s.i64(0);
    auto h = hash_of(s.i64(2), s.text(3));
    index_.insert(h, c);
    auto& ck = by_conv_[c];
    ck.keys.push_back(waiting{h, s.i64(1)});
    ck.committed = ck.keys.size();
  }
  s.reset();
  stale_ = false;
}

std::optional<send_key> send_key_buffer::find(db& d, user_id sender, std::string_view cmid) {
  refuse_while_stale(stale_);
  auto h = hash_of(sender, cmid);
  std::optional<send_key> out;
  index_.find(h, [&](conv_id c) {
    // A hit: a retry, or (rarely) another key with the same hash. The event decides.
    const auto& keys = by_conv_.at(c).keys;
    auto& q = d.prepare(
        "SELECT event_id, ts_ms FROM events WHERE id = ? AND sender_id = ? AND client_msg_id = ?");
    for (auto w = keys.rbegin(); w != keys.rend() && !out; ++w) {
      if (w->hash != h) continue;
      q.bind(1, message_row_id(c, w->seq)).bind(2, sender).bind(3, cmid);
      if (q.step()) out = send_key{c, w->seq, q.text(0), q.i64(1)};
      q.reset();
    }
    return out.has_value();
  });
  return out;
}

void send_key_buffer::stage(std::uint64_t hash, conv_id c, seq_t seq) {
  auto& ck = by_conv_[c];
  if (ck.keys.size() == ck.committed) touched_.push_back(c);
  index_.insert(hash, c);
  ck.keys.push_back(waiting{hash, seq});
}

void send_key_buffer::add(user_id sender, std::string_view cmid, conv_id c, seq_t seq) {
  refuse_while_stale(stale_);
  stage(hash_of(sender, cmid), c, seq);
}

void send_key_buffer::move_conversation(db& d, conv_id c) {
  refuse_while_stale(stale_);
  auto it = by_conv_.find(c);
  if (it == by_conv_.end()) return;
  // One statement: the waiting keys are exactly the conversation's events above keys_seq.
  d.prepare(
       "INSERT OR IGNORE INTO send_keys(sender_id, client_msg_id, conv_id, seq, event_id, "
       "ts_ms) SELECT sender_id, client_msg_id, conv_id, seq, event_id, ts_ms FROM events "
       "WHERE id > ?1 * 4294967296 + (SELECT keys_seq FROM conversations WHERE id = ?1) "
       "AND id < (?1 + 1) * 4294967296 AND client_msg_id IS NOT NULL")
      .bind(1, c)
      .run();
  seq_t top = 0;
  for (const auto& w : it->second.keys) top = std::max(top, w.seq);
  d.prepare("UPDATE conversations SET keys_seq = max(keys_seq, ?) WHERE id = ?")
      .bind(1, top)
      .bind(2, c)
      .run();
  // Both statements succeeded: the keys are send_keys rows now (in this transaction).
  for (const auto& w : it->second.keys) {
    index_.erase(w.hash, c);
    note_moved(w.hash);
  }
  moved_.emplace_back(c, std::move(it->second));
  by_conv_.erase(it);
}

void send_key_buffer::note_moved(std::uint64_t hash) {
  if (filter_) filter_->add(hash);
  if (filling_) filling_->add(hash);
  // Fuller than it was sized for, so less selective: fill a larger one, which the scan
  // starts over for. This one answers meanwhile.
  if (!filling_ && filter_->added() > filter_->capacity() && filter_->capacity() < kMaxFilterKeys) {
    filling_ = std::make_unique<key_filter>(std::min(filter_->capacity() * 4, kMaxFilterKeys));
    scanned_to_.reset();
  }
}

void send_key_buffer::scan_step(db& d) {
  auto& q = scanned_to_
                ? d.prepare(
                      "SELECT sender_id, client_msg_id FROM send_keys WHERE (sender_id, "
                      "client_msg_id) > (?1, ?2) ORDER BY sender_id, client_msg_id LIMIT ?3")
                : d.prepare(
                      "SELECT sender_id, client_msg_id FROM send_keys ORDER BY sender_id, "
                      "client_msg_id LIMIT ?3");
  if (scanned_to_) q.bind(1, scanned_to_->first).bind(2, scanned_to_->second);
  q.bind(3, static_cast<std::int64_t>(kScanRows));
  std::size_t rows = 0;
  std::optional<std::pair<user_id, std::string>> last;
  while (q.step()) {
    ++rows;
    last.emplace(q.i64(0), std::string(q.text(1)));
    filling_->add(hash_of(last->first, last->second));
  }
  q.reset();
  if (last) scanned_to_ = std::move(last);
  if (rows < kScanRows) {  // every row is in: it answers from now on
    filter_ = std::move(filling_);
    scanned_to_.reset();
  }
}

void send_key_buffer::before_commit(db& d) {
  refuse_while_stale(stale_);
  if (filling_) scan_step(d);
  if (index_.size() <= keep_) return;
  std::size_t want = index_.size() - keep_ + min_move_;
  std::size_t done = 0;
  while (done < want && !by_conv_.empty()) {
    auto it = by_conv_.upper_bound(next_cursor_);
    if (it == by_conv_.end()) it = by_conv_.begin();
    auto c = it->first;
    done += it->second.keys.size();
    move_conversation(d, c);
    next_cursor_ = c;
  }
}

void send_key_buffer::committed() {
  for (auto c : touched_)
    if (auto it = by_conv_.find(c); it != by_conv_.end())
      it->second.committed = it->second.keys.size();
  touched_.clear();
  moved_.clear();
  cursor_ = next_cursor_;
}

void send_key_buffer::rolled_back(db& d) {
  next_cursor_ = cursor_;
  bool open = sqlite3_get_autocommit(d.handle()) == 0;
  try {
    // Moves the rollback undid: their keys wait again, ahead of any added to their
    // conversation since. (After a rollback to a savepoint, a move from before it stands:
    // its conversation's keys_seq still covers its keys.)
    auto moved = std::move(moved_);
    moved_.clear();
    for (auto m = moved.rbegin(); m != moved.rend(); ++m) {
      auto& [c, ck] = *m;
      if (open && !ck.keys.empty()) {
        seq_t top = 0;
        for (const auto& w : ck.keys) top = std::max(top, w.seq);
        auto& q = d.prepare("SELECT keys_seq FROM conversations WHERE id = ?");
        q.bind(1, c);
        bool stands = q.step() && q.i64(0) >= top;
        q.reset();
        if (stands) {
          moved_.emplace_back(c, std::move(ck));
          continue;
        }
      }
      for (const auto& w : ck.keys) index_.insert(w.hash, c);
      auto& now = by_conv_[c];
      ck.keys.insert(ck.keys.end(), now.keys.begin(), now.keys.end());
      now = std::move(ck);
    }
    std::reverse(moved_.begin(), moved_.end());
    // The staged keys go; those whose events a rollback to a savepoint kept are staged
    // again.
    std::sort(touched_.begin(), touched_.end());
    touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
    std::vector<std::pair<conv_id, waiting>> staged;
    for (auto c : touched_) {
      auto it = by_conv_.find(c);
      if (it == by_conv_.end()) continue;
      auto& ck = it->second;
      for (auto i = ck.committed; i < ck.keys.size(); ++i) {
        index_.erase(ck.keys[i].hash, c);
        staged.emplace_back(c, ck.keys[i]);
      }
      ck.keys.resize(ck.committed);
      if (ck.keys.empty()) by_conv_.erase(it);
    }
    touched_.clear();
    if (!open) {
      if (stale_) load(d);
      return;
    }
    auto& q = d.prepare(
        "SELECT sender_id, client_msg_id FROM events WHERE id = ? AND client_msg_id IS NOT NULL");
    for (const auto& [c, w] : staged) {
      q.bind(1, message_row_id(c, w.seq));
      bool kept = q.step() && hash_of(q.i64(0), q.text(1)) == w.hash;
      q.reset();
      if (kept) stage(w.hash, c, w.seq);
    }
    // A move that stands may hold keys staged before the savepoint: a later whole rollback
    // puts them back and must find them staged.
    for (const auto& m : moved_) touched_.push_back(m.first);
  } catch (const std::exception&) {
    // Unknown which keys remain: refuse every use until a whole rollback, then reload.
    stale_ = true;
  }
}

}  // namespace parley::sqlite
