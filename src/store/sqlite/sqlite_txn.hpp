// read_txn / write_txn over one SQLite connection. The transaction itself (BEGIN,
// savepoints, COMMIT) is driven by sqlite_store; this class only runs statements.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "store/sqlite/sqlite_db.hpp"
#include "store/store.hpp"

namespace parley::sqlite {

class send_key_buffer;

class sqlite_txn final : public write_txn {
 public:
  // `keys`: the writer's buffer of idempotency keys not yet in send_keys (the writer's
  // transaction needs it; a reader's has none and looks in the events itself).
  explicit sqlite_txn(db& d, send_key_buffer* keys = nullptr) : db_(d), keys_(keys) {}

  // The writer's memory of conversations' last_seq (append_event reads it once per
  // conversation, not once per event). The writer must call this after every rollback.
  void forget_cached() {
    last_seq_.clear();
    unsaved_seq_.clear();
    next_ticket_ = 0;
  }
  // While deferring, append_event leaves conversations.last_seq to save_last_seqs()
  // (one UPDATE per conversation per batch instead of one per event); reads of
  // conversations in this transaction save first. The writer defers only in a batch
  // without savepoints (a rollback to a savepoint would not undo the memory) and saves
  // before COMMIT.
  void defer_last_seqs(bool on) { defer_last_seq_ = on; }
  void save_last_seqs();
  // The writer calls these around the end of every transaction: before_commit() before
  // COMMIT (saves the deferred last_seqs, moves waiting keys into send_keys), committed()
  // after it succeeded, rolled_back() after every ROLLBACK and ROLLBACK TO.
  void before_commit();
  void committed();
  void rolled_back();
  // Rows save_last_seqs() updated since the last call: a job's own changes are the
  // connection's change count minus these (saving another job's seqs is not a change of
  // the job that read the conversation).
  std::int64_t take_saved_rows() { return std::exchange(saved_rows_, 0); }

  std::optional<credentials> find_user_by_handle(const std::string& handle) override;
  std::optional<user> find_user(user_id id) override;
  std::optional<device_session> find_device_by_token_hash(const std::string& hash) override;
  std::optional<conversation> find_conversation(conv_id id) override;
  std::optional<conv_id> find_direct(user_id a, user_id b) override;
  std::optional<membership> find_membership(conv_id c, user_id u) override;
  std::vector<membership> list_members(conv_id c) override;
  std::vector<user_id> list_member_ids(conv_id c) override;
  std::vector<std::pair<conversation, membership>> list_conversations(user_id u) override;
  std::vector<event> read_events(conv_id c, seq_t from_seq, seq_t to_seq,
                                 std::size_t limit) override;
  std::vector<event> read_events_desc(conv_id c, seq_t from_seq, seq_t to_seq,
                                      std::size_t limit) override;
  std::optional<event> find_event_by_client_msg_id(user_id sender,
                                                   const std::string& cmid) override;
  std::optional<send_key> find_send_key(user_id sender, const std::string& cmid) override;
  std::optional<message_state> find_message(conv_id c, seq_t seq) override;
  std::vector<message_state> list_messages(conv_id c, seq_t root, seq_t from_seq, seq_t to_seq,
                                           std::size_t limit, bool descending) override;
  std::vector<reaction_count> list_reactions(conv_id c, seq_t from_seq, seq_t to_seq,
                                             std::size_t max_users) override;
  std::size_t count_user_reactions(conv_id c, seq_t msg, user_id u) override;
  std::vector<user_id> list_thread_participants(conv_id c, seq_t root, std::size_t limit) override;
  std::optional<bool> find_follow(user_id u, conv_id c, seq_t root) override;
  std::vector<followed_thread> list_followed_threads(user_id u, conv_id c) override;
  std::vector<message_edit> list_edits(conv_id c, seq_t seq) override;
  std::optional<seq_t> find_read_pointer(user_id u, conv_id c, seq_t root) override;
  std::int64_t count_unread(conv_id c, seq_t root, user_id u, seq_t after,
                            std::int64_t cap) override;
  std::int64_t count_mentions(user_id u, conv_id c, seq_t root, seq_t after,
                              std::int64_t cap) override;
  std::vector<search_hit> search_messages(user_id u, const search_query& q) override;
  std::vector<receipt> list_receipts(conv_id c, seq_t root) override;
  seq_t find_delivered(user_id u, conv_id c) override;
  user_prefs find_prefs(user_id u) override;
  std::vector<user_id> list_contacts(user_id u) override;
  seq_t advance_delivered(device_id d, user_id u, conv_id c, seq_t seq) override;
  void put_prefs(user_id u, bool private_receipts, bool invisible) override;
  void set_last_seen(user_id u, std::int64_t ms) override;
  std::optional<upload_info> find_upload(const std::string& id) override;
  bool owns_upload(user_id u, const std::string& id) override;
  bool sees_upload(user_id u, const std::string& id) override;
  std::vector<std::pair<seq_t, attachment>> list_attachments(conv_id c, seq_t from_seq,
                                                             seq_t to_seq) override;

  result<user> insert_user(const std::string& handle, const std::string& pw_hash,
                           std::int64_t now_ms) override;
  device_id insert_device(user_id u, const std::string& token_hash, std::int64_t now_ms,
                          std::int64_t expires_ms) override;
  bool delete_device(device_id d) override;
  bool replace_token(device_id d, const std::string& token_hash, std::int64_t expires_ms) override;
  void set_password(user_id u, const std::string& pw_hash) override;
  std::vector<device_id> delete_devices_of(user_id u, device_id keep) override;
  conv_id insert_conversation(conv_kind k, const std::string& title,
                              std::optional<std::pair<user_id, user_id>> direct_pair,
                              std::int64_t now_ms) override;
  void set_title(conv_id c, const std::string& title) override;
  void put_member(conv_id c, user_id u, role r, seq_t joined_seq) override;
  void set_member_left(conv_id c, user_id u, seq_t left_seq) override;
  void set_member_role(conv_id c, user_id u, role r) override;
  void append_event(event& ev) override;
  void append_message(event& ev, message_state& m) override;
  seq_t prune_before(conv_id c, seq_t before_seq) override;
  void rewrite_event_data(conv_id c, seq_t seq, const std::string& data) override;
  void insert_message(const message_state& m) override;
  void edit_message(conv_id c, seq_t seq, const std::string& text, std::int64_t ms,
                    seq_t edit_seq) override;
  std::vector<seq_t> delete_message(conv_id c, seq_t seq, std::int64_t ms) override;
  bool add_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u,
                    std::int64_t ms) override;
  bool remove_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u) override;
  void add_thread_reply(conv_id c, seq_t root, user_id u, std::int64_t ms) override;
  void remove_thread_reply(conv_id c, seq_t root) override;
  bool set_follow(user_id u, conv_id c, seq_t root, bool following, bool only_if_unset) override;
  bool advance_read_pointer(user_id u, conv_id c, seq_t root, seq_t seq) override;
  std::size_t index_pending(std::size_t limit) override;
  bool purge_search_index(std::size_t pages) override;
  bool compact_search_index(std::size_t pages) override;
  void set_mentions(conv_id c, seq_t seq, const std::vector<user_id>& users) override;
  void put_upload(const upload_info& u, user_id owner, std::int64_t now_ms) override;
  void add_attachments(conv_id c, seq_t seq, const std::vector<attachment>& a) override;
  std::vector<std::string> collect_uploads(std::int64_t cutoff_ms, std::size_t limit) override;

 private:
  // append_event, and with `m` append_message: the event's row, holding the message's
  // state too.
  void append(event& ev, message_state* m);
  // A new message's search ticket: 0 for one without text (sqlite_messages.cpp).
  std::int64_t message_ticket(const message_state& m);
  // What a new message adds beside its row: its place in the search queue and its mentions.
  void message_rows_added(const message_state& m, std::int64_t ticket);
  // Deletes what the messages of seqs below `first` had beside their rows (reactions,
  // edits, mentions, thread participants, attachments); prune_before deletes the rows.
  void prune_messages(conv_id c, seq_t first);
  // Detaches the uploads of messages [from_seq, to_seq] of c, touching them at ms
  // (sqlite_uploads.cpp).
  void detach_uploads(conv_id c, seq_t from_seq, seq_t to_seq, std::int64_t ms);
  // Removes the mention rows of message seq for `users` (sqlite_messages.cpp).
  void delete_mentions(conv_id c, seq_t seq, const std::vector<user_id>& users);

  // The writer's lookup of a key: its buffer (the keys not in send_keys yet), then
  // send_keys itself unless the buffer's filter rules the key out (most new keys).
  std::optional<send_key> writer_find_key(user_id sender, const std::string& cmid);
  // The next search ticket (schema migration 11): above every ticket queued or indexed.
  std::int64_t take_search_ticket();

  db& db_;
  send_key_buffer* keys_;
  // The last key find_send_key found in neither place: append_event of that key, next in
  // the same job, need not look again (cleared at the end of every transaction).
  std::optional<std::pair<user_id, std::string>> absent_;
  std::unordered_map<conv_id, seq_t> last_seq_;     // written by this connection, committed
  std::unordered_map<conv_id, seq_t> unsaved_seq_;  // appended, conversations row not yet
  bool defer_last_seq_ = false;
  std::int64_t saved_rows_ = 0;
  // The next search ticket, read from the database at the first queued message of a
  // transaction (0: not read in this one).
  std::int64_t next_ticket_ = 0;
};

}  // namespace parley::sqlite
