// The storage interface. The conversation log lives behind it; SQLite is the first
// backend (store/sqlite), PostgreSQL comes later. Every backend passes the conformance
// suite in tests/unit/store_conformance_test.cpp.
//
// Contract:
// - write() runs `fn` on the store's single writer, inside a transaction shared with
//   other writes (group commit) but isolated: if `fn` returns an error, or throws,
//   everything it did is rolled back and nothing else is affected. `fn` may run more
//   than once (a backend may roll back a whole batch and run it again); only its last
//   run's writes count, so it must reset at its start whatever it records outside the
//   store. Returning an error before writing anything is the cheap way to fail.
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

  // Message state (see message_state). `root` 0 means the conversation's main timeline
  // (messages that are not thread replies); otherwise the replies of that thread.
  virtual std::optional<message_state> find_message(conv_id c, seq_t seq) = 0;
  // Messages of the timeline with from_seq <= seq <= to_seq, deleted ones included, at
  // most `limit`, ascending (or descending: newest first).
  virtual std::vector<message_state> list_messages(conv_id c, seq_t root, seq_t from_seq,
                                                   seq_t to_seq, std::size_t limit,
                                                   bool descending) = 0;
  // Reactions on messages from_seq..to_seq, by message, then emoji in order of first use;
  // `users` holds at most max_users of the reacting users, oldest first.
  virtual std::vector<reaction_count> list_reactions(conv_id c, seq_t from_seq, seq_t to_seq,
                                                     std::size_t max_users) = 0;
  // Distinct emoji a user has on a message.
  virtual std::size_t count_user_reactions(conv_id c, seq_t msg, user_id u) = 0;
  // Users who replied in a thread, first repliers first, at most `limit`.
  virtual std::vector<user_id> list_thread_participants(conv_id c, seq_t root,
                                                        std::size_t limit) = 0;
  // Whether u follows the thread; nullopt if u never followed or unfollowed it.
  virtual std::optional<bool> find_follow(user_id u, conv_id c, seq_t root) = 0;
  // Threads u follows, in the conversation, or in every conversation when c is 0.
  virtual std::vector<followed_thread> list_followed_threads(user_id u, conv_id c) = 0;
  // Earlier versions of a message, oldest first.
  virtual std::vector<message_edit> list_edits(conv_id c, seq_t seq) = 0;
  // u's read position in the timeline (root 0) or a thread; nullopt if never set.
  virtual std::optional<seq_t> find_read_pointer(user_id u, conv_id c, seq_t root) = 0;
  // Messages of the timeline after `after` that are not u's own and not deleted, counted
  // up to `cap`.
  virtual std::int64_t count_unread(conv_id c, seq_t root, user_id u, seq_t after,
                                    std::int64_t cap) = 0;
  // Mentions of u in the timeline after `after`, counted up to `cap`.
  virtual std::int64_t count_mentions(user_id u, conv_id c, seq_t root, seq_t after,
                                      std::int64_t cap) = 0;
  // Indexed messages matching q.match that u may read (member of the conversation, or a
  // former member up to leaving), not deleted, newest first. A malformed q.match throws.
  virtual std::vector<search_hit> search_messages(user_id u, const search_query& q) = 0;

  // Receipts of the active members of c: delivered and read positions in the timeline
  // (root 0), or read positions in the thread of `root`.
  virtual std::vector<receipt> list_receipts(conv_id c, seq_t root) = 0;
  // The user's delivered position in c (0 if none).
  virtual seq_t find_delivered(user_id u, conv_id c) = 0;
  virtual user_prefs find_prefs(user_id u) = 0;
  // Users who share an active membership of some conversation with u (u excluded).
  virtual std::vector<user_id> list_contacts(user_id u) = 0;

  // Uploads: content recorded here, its bytes kept by blob_store.
  virtual std::optional<upload_info> find_upload(const std::string& id) = 0;
  // Whether u uploaded this content (at any time).
  virtual bool owns_upload(user_id u, const std::string& id) = 0;
  // Whether a message u can read (as a member, or a former member up to leaving) carries it.
  virtual bool sees_upload(user_id u, const std::string& id) = 0;
  // Attachments of the messages from_seq..to_seq, by message seq, then position.
  virtual std::vector<std::pair<seq_t, attachment>> list_attachments(conv_id c, seq_t from_seq,
                                                                     seq_t to_seq) = 0;
};

class write_txn : public read_txn {
 public:
  // Fails with conflict if the handle is taken.
  virtual result<user> insert_user(const std::string& handle, const std::string& pw_hash,
                                   std::int64_t now_ms) = 0;
  virtual device_id insert_device(user_id u, const std::string& token_hash, std::int64_t now_ms,
                                  std::int64_t expires_ms) = 0;
  virtual bool delete_device(device_id d) = 0;
  // Gives device d a new token (the old one stops working) and expiry; false if d is gone.
  virtual bool replace_token(device_id d, const std::string& token_hash,
                             std::int64_t expires_ms) = 0;
  virtual void set_password(user_id u, const std::string& pw_hash) = 0;
  // Deletes every device of u except `keep` (0: all); returns the ones deleted.
  virtual std::vector<device_id> delete_devices_of(user_id u, device_id keep) = 0;
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
  // Replaces a stored event's data (deleting a message's content from its events).
  virtual void rewrite_event_data(conv_id c, seq_t seq, const std::string& data) = 0;

  // Message state. insert_message also records its mentions. The message is that of the
  // event (m.conv, m.seq), sent by the event's sender.
  virtual void insert_message(const message_state& m) = 0;
  // Appends a message's event and inserts its state in one step: append_event(ev), then
  // insert_message(m) with m.seq and m.created_ms taken from the event. A backend may store
  // both in one row (the SQLite store does: one B-tree insert per send instead of two).
  virtual void append_message(event& ev, message_state& m) {
    append_event(ev);
    m.seq = ev.seq;
    m.created_ms = ev.ts_ms;
    insert_message(m);
  }
  // Sets the text and edited time, keeping the replaced text as an earlier version.
  virtual void edit_message(conv_id c, seq_t seq, const std::string& text, std::int64_t ms,
                            seq_t edit_seq) = 0;
  // Empties the message and removes its earlier versions, reactions and mentions; returns
  // the seqs of the message.edited events that carried its text.
  virtual std::vector<seq_t> delete_message(conv_id c, seq_t seq, std::int64_t ms) = 0;
  // Return whether anything changed (a reaction is unique per user, message and emoji).
  virtual bool add_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u,
                            std::int64_t ms) = 0;
  virtual bool remove_reaction(conv_id c, seq_t msg, const std::string& emoji, user_id u) = 0;
  // A reply in the thread of `root` was posted by u at ms (count, last time, participant)
  // or deleted (count only).
  virtual void add_thread_reply(conv_id c, seq_t root, user_id u, std::int64_t ms) = 0;
  virtual void remove_thread_reply(conv_id c, seq_t root) = 0;
  // Follows or unfollows; with only_if_unset, leaves an existing choice alone. Returns
  // whether the stored state changed.
  virtual bool set_follow(user_id u, conv_id c, seq_t root, bool following, bool only_if_unset) = 0;
  // Moves u's read position forward to seq; returns false (and changes nothing) if it is
  // already there or beyond.
  virtual bool advance_read_pointer(user_id u, conv_id c, seq_t root, seq_t seq) = 0;
  // Adds up to `limit` messages not yet in the search index to it (oldest first); returns
  // how many it took. New messages are found by search once indexed; edits and deletes
  // of indexed messages update the index at once.
  virtual std::size_t index_pending(std::size_t limit) = 0;
  // Deleted messages leave their terms in the index until its segments are merged; this
  // merges about `pages` pages toward one segment while a delete is unpurged. Returns
  // whether purging work remains.
  virtual bool purge_search_index(std::size_t pages) = 0;
  // Merges about `pages` pages of the search index's segments where two or more share a
  // level (fewer segments: cheaper queries and snippets). Returns whether it merged any.
  virtual bool compact_search_index(std::size_t pages) = 0;
  // Replaces the users a message mentions (an edit changed its text).
  virtual void set_mentions(conv_id c, seq_t seq, const std::vector<user_id>& users) = 0;

  // Moves device d's (of user u) delivered position in c forward to seq, and u's with it
  // (a user's position is the furthest of their devices'). Returns u's position if it
  // moved, 0 otherwise.
  virtual seq_t advance_delivered(device_id d, user_id u, conv_id c, seq_t seq) = 0;
  virtual void put_prefs(user_id u, bool private_receipts, bool invisible) = 0;
  virtual void set_last_seen(user_id u, std::int64_t ms) = 0;

  // Records content u uploaded: created the first time, touched every time.
  virtual void put_upload(const upload_info& u, user_id owner, std::int64_t now_ms) = 0;
  // Attaches uploads to a message, in order. delete_message and pruning detach them again
  // (touching each upload, which starts its grace period).
  virtual void add_attachments(conv_id c, seq_t seq, const std::vector<attachment>& a) = 0;
  // Forgets up to `limit` uploads that no message carries and that were not touched since
  // cutoff_ms; returns their ids, whose bytes the caller removes after the commit.
  virtual std::vector<std::string> collect_uploads(std::int64_t cutoff_ms, std::size_t limit) = 0;
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
