// The writer's idempotency keys that are not yet rows of send_keys (SQLite store).
//
// send_keys is ordered by (sender_id, client_msg_id), so a key inserted there at once
// dirtied its sender's leaf: about one WAL page per send when a commit holds one send of
// each of many senders. Instead a new key is only in its event (events.sender_id and
// client_msg_id) and in this buffer. Before a commit, once more than `keep` keys wait,
// the writer moves every waiting key of some conversations (in turn, by id) into
// send_keys, in key order (several keys of each sender on one leaf), and records in
// conversations.keys_seq that every key of that conversation up to there is in send_keys.
//
// What is durable is the tables: a key is in send_keys, or its event has a seq above its
// conversation's keys_seq. The buffer holds only a 64-bit hash and the seq of each waiting
// key (the key itself is in its event); load() finds those events again at start. Readers do not
// see the buffer; they look in those events themselves (sqlite_txn::find_send_key). An event with a
// waiting key is not pruned before its key has moved (move_conversation).
//
// Which keys may be rows of send_keys: a Bloom filter (key_filter) of their hashes. A
// filter answers once it has seen every row: a scan of send_keys in key order, a chunk
// before each commit, fills it, and every key a move puts there is added as it moves. A
// send whose new key the filter does not hold then skips the lookup in send_keys. When
// more keys went in than it was sized for, a filter four times larger is filled the same
// way (up to kMaxFilterKeys) while the old one still answers. A rolled-back move or scan
// leaves extra hashes in a filter, never missing ones.
//
// Transactional like the tables: keys added in the open transaction are staged;
// committed() keeps them and forgets the moved ones, and rolled_back() forgets the staged
// keys and stages again those whose events the transaction still holds (after a rollback
// to a savepoint, earlier jobs' keys remain).
//
// Thread-safety: the writer thread only. Every call taking a db runs statements on it and
// throws sqlite_error when one fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/model.hpp"
#include "store/sqlite/key_filter.hpp"
#include "store/sqlite/key_hash_index.hpp"

namespace parley::sqlite {

class db;

class send_key_buffer {
 public:
  // Keys kept waiting at most before a commit moves some (the larger, the more keys of
  // each sender a move puts on one leaf), and how many one commit moves at least (whole
  // conversations: one may take more).
  explicit send_key_buffer(std::size_t keep = 16384, std::size_t min_move = 256)
      : keep_(keep), min_move_(min_move) {}

  // Replaces the contents with the keys of the events above their conversation's keys_seq
  // (outside a transaction). When that fails, the buffer is stale (see rolled_back).
  void load(db& d);
  // The key's entry, if it waits here (staged or committed): a hash probe, and on a hit
  // the event itself.
  std::optional<send_key> find(db& d, user_id sender, std::string_view cmid);
  // Stages the key of an event just appended (conversation c, seq). The caller has checked
  // that the key is in neither place.
  void add(user_id sender, std::string_view cmid, conv_id c, seq_t seq);
  // Moves every waiting key of conversation c into send_keys now (before its events are
  // pruned).
  void move_conversation(db& d, conv_id c);
  // Before COMMIT: moves the keys of some conversations when more than `keep` wait.
  void before_commit(db& d);
  // After a successful COMMIT: the staged keys are kept, the moved ones forgotten.
  void committed();
  // After ROLLBACK or ROLLBACK TO. When it cannot read which staged keys a rollback to a
  // savepoint kept, every other call throws until the next whole ROLLBACK, after which
  // this call loads the buffer again.
  void rolled_back(db& d);

  std::size_t size() const { return index_.size(); }

  // False only when the key is certainly not a row of send_keys (the filter answers and
  // does not hold it); true means: look there.
  bool maybe_moved(user_id sender, std::string_view cmid) const {
    return !filter_ || filter_->may_contain(hash_of(sender, cmid));
  }
  // The keys the answering filter is sized for (0: none answers yet, every lookup goes to
  // send_keys), and whether a filter is being filled.
  std::size_t filter_capacity() const { return filter_ ? filter_->capacity() : 0; }
  bool filter_filling() const { return filling_ != nullptr; }

  // Keys a filter is sized for: the first, and the largest (16 bits each: 64 MiB).
  static constexpr std::size_t kFirstFilterKeys = 65536;
  static constexpr std::size_t kMaxFilterKeys = std::size_t{32} << 20;
  // Rows of send_keys one commit's scan step reads at most.
  static constexpr std::size_t kScanRows = 1024;

 private:
  static std::uint64_t hash_of(user_id sender, std::string_view cmid) {
    return std::hash<std::string_view>{}(cmid) ^
           (static_cast<std::uint64_t>(sender) * 0x9e3779b97f4a7c15ULL);
  }
  struct waiting {
    std::uint64_t hash = 0;
    seq_t seq = 0;
  };
  // A conversation's waiting keys in the order added; the first `committed` are committed,
  // the rest staged.
  struct conv_keys {
    std::vector<waiting> keys;
    std::size_t committed = 0;
  };
  void clear();
  void stage(std::uint64_t hash, conv_id c, seq_t seq);
  // The key of a row now in send_keys (moved in the open transaction).
  void note_moved(std::uint64_t hash);
  // Reads the next chunk of send_keys into the filter being filled; at the end, it answers.
  void scan_step(db& d);

  std::size_t keep_;
  std::size_t min_move_;
  key_hash_index index_;  // every waiting key: its hash and conversation
  std::map<conv_id, conv_keys> by_conv_;
  std::vector<conv_id> touched_;                      // given keys by the open transaction
  std::vector<std::pair<conv_id, conv_keys>> moved_;  // moved by the open transaction
  conv_id cursor_ = 0;       // the next move starts at the first conversation above it
  conv_id next_cursor_ = 0;  // the cursor once the open transaction commits
  // A rollback's keys could not be read: every use throws until a whole rollback loads
  // the buffer again.
  bool stale_ = false;
  // The filter that answers (null until a scan finished), and the one being filled by the
  // scan (null when none is), with the scan's position: the last key read, if any.
  std::unique_ptr<key_filter> filter_;
  std::unique_ptr<key_filter> filling_ = std::make_unique<key_filter>(kFirstFilterKeys);
  std::optional<std::pair<user_id, std::string>> scanned_to_;
};

}  // namespace parley::sqlite
