// The storage interface. The conversation log lives behind it; SQLite is the first
// backend (store/sqlite), PostgreSQL comes later. Every backend passes the conformance
// suite in tests/unit/store_conformance_test.cpp.
//
// Contract:
// - write() runs `fn` on the store's single writer, inside a transaction shared with
//   other writes (group commit) but isolated by a savepoint: if `fn` returns an error,
//   or throws, everything it did is rolled back and nothing else is affected.
//   `done` runs after the transaction is durably committed (or failed), on the writer
//   thread, in the order the writes were submitted. It must not block; post elsewhere.
// - read() runs `fn` on one of the reader connections (a consistent snapshot) and `done`
//   on that reader thread.
// - Both are safe to call from any thread. A full queue, or a stopped store, fails fast
//   with rate_limited: then `done` (or on_error) runs at once, on the caller's thread.
// - append_event assigns seq = last_seq + 1 of the conversation at commit time, so seqs
//   are gapless per conversation; (sender, client_msg_id) is unique forever.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/model.hpp"

namespace parley {

class read_txn {
 public:
  virtual ~read_txn() = default;
  virtual std::optional<credentials> find_user_by_handle(const std::string& handle) = 0;
  virtual std::optional<user> find_user(user_id id) = 0;
  virtual std::optional<device_session> find_device_by_token_hash(const std::string& hash) = 0;
  virtual std::optional<conversation> find_conversation(conv_id id) = 0;
  virtual std::optional<conv_id> find_direct(user_id a, user_id b) = 0;
  virtual std::optional<membership> find_membership(conv_id c, user_id u) = 0;
  // Active members only, ordered by user id.
  virtual std::vector<membership> list_members(conv_id c) = 0;
  // Ids of the active members, ascending: the recipients of a conversation's events.
  virtual std::vector<user_id> list_member_ids(conv_id c) = 0;
  // Every conversation the user is or was a member of, with the membership row.
  virtual std::vector<std::pair<conversation, membership>> list_conversations(user_id u) = 0;
  // Events with from_seq <= seq <= to_seq, ascending, at most `limit`.
  virtual std::vector<event> read_events(conv_id c, seq_t from_seq, seq_t to_seq,
                                         std::size_t limit) = 0;
  // Events with from_seq <= seq <= to_seq, descending (newest first), at most `limit`.
  virtual std::vector<event> read_events_desc(conv_id c, seq_t from_seq, seq_t to_seq,
                                              std::size_t limit) = 0;
  virtual std::optional<event> find_event_by_client_msg_id(user_id sender,
                                                           const std::string& cmid) = 0;
  // The idempotency record of (sender, client_msg_id); kept even when the event is pruned.
  virtual std::optional<send_key> find_send_key(user_id sender, const std::string& cmid) = 0;
};

class write_txn : public read_txn {
 public:
  // Fails with conflict if the handle is taken.
  virtual result<user> insert_user(const std::string& handle, const std::string& pw_hash,
                                   std::int64_t now_ms) = 0;
  virtual device_id insert_device(user_id u, const std::string& token_hash, std::int64_t now_ms,
                                  std::int64_t expires_ms) = 0;
  virtual bool delete_device(device_id d) = 0;
  virtual conv_id insert_conversation(conv_kind k, const std::string& title,
                                      std::optional<std::pair<user_id, user_id>> direct_pair,
                                      std::int64_t now_ms) = 0;
  virtual void set_title(conv_id c, const std::string& title) = 0;
  virtual void put_member(conv_id c, user_id u, role r, seq_t joined_seq) = 0;
  virtual void set_member_left(conv_id c, user_id u, seq_t left_seq) = 0;
  virtual void set_member_role(conv_id c, user_id u, role r) = 0;
  // Appends to the log; fills ev.seq (and keeps ev.id, ev.ts_ms as given). An event with
  // a client_msg_id also records its send_key; a second one with the same
  // (sender, client_msg_id) throws.
  virtual void append_event(event& ev) = 0;
  // Deletes events with seq < before_seq; returns the new first_seq.
  virtual seq_t prune_before(conv_id c, seq_t before_seq) = 0;
};

class store {
 public:
  virtual ~store() = default;
  using write_fn = std::function<error(write_txn&)>;  // return errc::ok to keep the work
  using write_done = std::function<void(const error&)>;
  using read_fn = std::function<void(read_txn&)>;

  virtual void write(write_fn fn, write_done done) = 0;
  // Runs fn on a reader; exceptions from the backend become an internal error passed to
  // on_error (if given) instead of fn's own completion.
  virtual void read(read_fn fn, std::function<void(const error&)> on_error) = 0;
  // Stops accepting work, finishes what was queued (every queued write is committed or
  // failed, every `done` has run), joins the threads.
  virtual void stop() = 0;
};

}  // namespace parley
