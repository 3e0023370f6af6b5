// Parley's operations (register, login, conversations, members, send, history), shared
// by every transport. Authorization is checked inside the same store transaction that
// makes the change, so a check and its write can never be separated by another write.
// Committed events are encoded once and published to the bus, in commit order, before
// the reply is delivered.
//
// Thread safety: call() and authenticate() may be called from any thread; `done` runs on
// a store or CPU-pool thread and must post to wherever the caller lives.
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <optional>
#include <string>

#include "bus/bus.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/jwt.hpp"
#include "core/model.hpp"
#include "core/rate_limiter.hpp"
#include "store/store.hpp"

namespace parley {

// A user's receipt moved forward (service_receipts.cpp): what the other members hear.
struct receipt_change {
  conv_id conv = 0;
  user_id user = 0;
  seq_t root = 0;       // 0: the timeline; else the thread's root (read only)
  seq_t delivered = 0;  // the new delivered position; 0: unchanged
  seq_t read = 0;       // the new read position; 0: unchanged
};

struct service_options {
  std::int64_t token_ttl_ms = 30LL * 24 * 3600 * 1000;
  pw_cost password_cost = pw_cost::interactive;
  std::size_t max_text_bytes = 16384;
  std::size_t max_title_bytes = 200;
  std::size_t history_page_max = 200;
  std::size_t history_page_default = 50;
  std::size_t group_max_members = 1000;
  std::int64_t edit_window_ms = 0;  // how long after sending a message may be edited; 0: always
  std::size_t max_reactions_per_user = 20;  // distinct emoji one user may put on one message
  std::size_t max_mentions = 50;            // @handles resolved per message
  std::size_t max_attachments = 10;         // uploads one message may carry
  // Signed tokens from an external auth service (null: only Parley's tokens), and whether
  // a token naming an unknown user creates it (service_signed.cpp).
  std::shared_ptr<const jwt_verifier> jwt;
  bool jwt_auto_create = false;
  // Rate limits per user, account and address (null: none).
  std::shared_ptr<rate_limiter> limiter;
  // Runs CPU-heavy work (password hashing) off the I/O threads.
  std::function<void(std::function<void()>)> run_cpu = [](std::function<void()> f) { f(); };
  // Called after a device logged out (or was revoked by a password change), so the server
  // can close its connections.
  std::function<void(device_id)> on_logout;
  // Called after a device's token was replaced: its connections now expire at `expires_ms`.
  std::function<void(device_id, std::int64_t expires_ms)> on_token_refreshed;
  // Called for every acknowledged send (duplicate: answered with the original ack).
  std::function<void(bool duplicate)> on_send_ack;
  // Pushes a notice frame to every connected device of a user (read positions and
  // follows, which are the user's own state, not conversation events).
  std::function<void(user_id, std::shared_ptr<const std::string>)> on_user_notice;
  // Called after a delivered or read position moved (the server batches them to members).
  std::function<void(const receipt_change&)> on_receipt;
  // If set, acknowledged positions (op ack), once validated, go here to be stored in
  // batches (the server's receipt batcher) instead of one write per ack.
  std::function<void(device_id, user_id, conv_id, seq_t)> on_delivered;
  // Called after a user changed their preferences (invisible, private receipts).
  std::function<void(user_id, const user_prefs&)> on_prefs;
};

// Who is calling: set once the connection or request is authenticated.
struct caller {
  std::optional<device_session> auth;
  std::string address;          // the client's IP address, where the transport knows it
  bool limits_checked = false;  // the transport ran over_limit() itself (call() skips it)
};

class service {
 public:
  using reply = std::function<void(result<std::string>)>;  // the JSON text of the result

  service(store& st, bus& b, service_options opt);

  // Runs operation `op` with `args`; exactly one call to `done` follows. Unknown
  // operations, bad arguments and failures all arrive as typed errors.
  void call(const caller& who, std::string_view op, const boost::json::object& args, reply done);
  // Resolves a bearer token to its device, or errc::unauthenticated: a Parley token by
  // its hash, or (when options().jwt is set) a signed token by its sub and sid claims
  // (service_signed.cpp). Every refused token gets the same error.
  void authenticate(const std::string& token, std::function<void(result<device_session>)> done);

  // Uploads (service_uploads.cpp). Not operations of call(): only the HTTP upload
  // endpoint, which computed `u` from the bytes it received, may record one.
  // Records that the caller uploaded `u`; after the commit runs `install` (which puts the
  // bytes in place, on the store's writer) and replies {"upload":{...}}.
  void put_upload(const device_session& me, const upload_info& u,
                  std::function<result<unit>()> install, reply done);
  // The upload if the caller may download it: they uploaded it, or a message they can
  // read carries it. Otherwise not_found, exactly as for content never uploaded.
  void open_upload(const device_session& me, const std::string& id,
                   std::function<void(result<upload_info>)> done);

  // The current receipts of the conversations the caller can read, as one
  // {"notice":"receipts",...} frame each (for a session that just resumed).
  void receipt_snapshot(const device_session& me, std::vector<conv_id> convs,
                        std::function<void(std::vector<std::string>)> done);

  const service_options& options() const { return opt_; }
  // Takes a token of `c` for `key` from the rate limiter: 0, or the milliseconds to wait
  // (for limits applied outside call(): typing, uploads).
  std::int64_t rate_take(rate_class c, std::string_view key);
  // The rate limit an operation is over, if any (docs/security.md, "Rate limits"); takes
  // the token when it is not. call() runs it unless the caller did (limits_checked).
  std::optional<error> over_limit(const caller& who, std::string_view op,
                                  const boost::json::object& a);
  store& storage() { return store_; }

  // Records the events a write makes so they can be published after commit.
  class emitter {
   public:
    // Appends an event to conv's log (assigning id, ts and seq); `extra` is a user who
    // receives it live although no longer a member (member.left).
    event& emit(write_txn& t, conv_id conv, std::string type, user_id sender, std::string data,
                std::string client_msg_id = {}, user_id extra = 0);
    // A message.created event with its message state (write_txn::append_message), which
    // gets the event's seq and time.
    event& emit_message(write_txn& t, conv_id conv, user_id sender, std::string data,
                        std::string client_msg_id, message_state& m);
    // After the write succeeded: resolve every event's live recipients.
    void resolve(write_txn& t);
    std::vector<committed_event_ptr> finish();

   private:
    static event make(conv_id conv, std::string type, user_id sender, std::string data,
                      std::string client_msg_id);
    event& keep(event ev, user_id extra);

    std::vector<event> events_;
    std::vector<user_id> extras_;
    std::vector<std::vector<user_id>> recipients_;
  };

 private:
  using write_body = std::function<error(write_txn&, emitter&)>;

  // Runs body in a write transaction; on commit publishes what it emitted, then replies
  // with make_reply().
  void commit(write_body body, std::function<std::string()> make_reply, reply done);

  void authenticate_signed(const std::string& token,
                           std::function<void(result<device_session>)> done);
  void op_register(const boost::json::object& a, reply done);
  void op_login(const boost::json::object& a, reply done);
  void op_logout(const device_session& me, reply done);
  void op_password(const device_session& me, const boost::json::object& a, reply done);
  void op_token_refresh(const device_session& me, reply done);
  void op_conv_create(const device_session& me, const boost::json::object& a, reply done);
  void op_conv_list(const device_session& me, reply done);
  void op_conv_get(const device_session& me, const boost::json::object& a, reply done);
  void op_conv_update(const device_session& me, const boost::json::object& a, reply done);
  void op_members_add(const device_session& me, const boost::json::object& a, reply done);
  void op_members_remove(const device_session& me, const boost::json::object& a, reply done);
  void op_members_set_role(const device_session& me, const boost::json::object& a, reply done);
  void op_send(const device_session& me, const boost::json::object& a, reply done);
  void op_history(const device_session& me, const boost::json::object& a, reply done);
  // Rich messages (service_edit.cpp, service_views.cpp).
  void op_edit(const device_session& me, const boost::json::object& a, reply done);
  void op_delete(const device_session& me, const boost::json::object& a, reply done);
  void op_react(const device_session& me, const boost::json::object& a, bool add, reply done);
  void op_follow(const device_session& me, const boost::json::object& a, bool follow, reply done);
  void op_read(const device_session& me, const boost::json::object& a, reply done);
  void op_messages(const device_session& me, const boost::json::object& a, reply done);
  void op_thread(const device_session& me, const boost::json::object& a, reply done);
  void op_edits(const device_session& me, const boost::json::object& a, reply done);
  void op_threads(const device_session& me, const boost::json::object& a, reply done);
  void op_search(const device_session& me, const boost::json::object& a, reply done);
  // Receipts and preferences (service_receipts.cpp).
  void op_ack(const device_session& me, const boost::json::object& a, reply done);
  void op_receipts(const device_session& me, const boost::json::object& a, reply done);
  void op_settings(const device_session& me, const boost::json::object& a, reply done);
  void notify_user(user_id u, std::string frame);
  // A mention notice to each user's devices.
  void notify_mentions(const std::vector<user_id>& users, conv_id c, seq_t seq, user_id sender,
                       seq_t thread);

  store& store_;
  bus& bus_;
  service_options opt_;
  std::string dummy_hash_;  // verified against for unknown handles, to even out timing
};

std::int64_t now_ms();
// The user's search words as an FTS5 query of quoted terms (service_search.cpp).
result<std::string> fts_query(std::string_view q);

}  // namespace parley
