// Parley's C++ client SDK: one connection to a Parley server with everything a chat
// application needs from the transport.
//
// - Transports: WebSocket, else Server-Sent Events, else long polling, on its own: when
//   attempts that reach the server fail on one transport (a proxy refusing the upgrade, a
//   stream that never starts), it moves to the next, and tries the first again later.
//   Positions, outbox and inbox are the client's, so nothing is lost or repeated across a
//   switch.
// - Lifecycle: connects (with a handshake timeout), authenticates with a token, syncs,
//   keeps the connection checked with pings (dead connections are closed after
//   heartbeat_timeout) and reconnects on any failure with exponential backoff and full
//   jitter. state() and on_state report offline / connecting / online / backing_off.
// - Outbox: send() stores the message with a fresh client_msg_id in the local SQLite
//   file before returning; it is transmitted when online, resent after every reconnect
//   and removed when the server acknowledges it. The server's idempotency makes resends
//   harmless: each message is stored once.
// - Inbox: events are delivered to on_event exactly once and in seq order per
//   conversation; duplicates are dropped, early arrivals held, and a detected gap is
//   filled from history. The last seq per conversation is stored, and a restarted client
//   resumes from there.
//
// Threading: the client runs its own I/O thread; every handler runs on it, one at a
// time, and must not block. A handler that throws makes the client reconnect and resume
// from the last saved positions. start() may be called once. send(), call(), stop() and the getters
// may be called from any thread.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "parley/sdk/backoff.hpp"
#include "parley/sdk/event.hpp"

namespace parley::sdk {

enum class state { offline, connecting, online, backing_off };
const char* to_string(state s);

enum class transport { websocket, sse, long_polling };
const char* to_string(transport t);

struct client_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string token;       // from login
  std::string store_path;  // the local SQLite file (outbox, positions); ":memory:" for none
  backoff_policy backoff;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds heartbeat_timeout{30000};  // ping after half, close after all
  std::chrono::milliseconds request_timeout{15000};
  std::size_t send_window = 64;  // sends awaiting acknowledgement at once
  // Only while no position at all is stored (a first start): replay every conversation
  // from the user's join (true) or start live at the current ends (false). Once any
  // position is stored, conversations without one are replayed from the join.
  bool replay_from_join = true;
  // Received events are acknowledged to the server (op ack: delivery receipts) at most
  // this often, cumulatively per conversation; 0 turns acknowledgements off.
  std::chrono::milliseconds ack_interval{1000};
  // Transports in order of preference. After `fallback_after` attempts in a row that
  // reached the server (or a proxy) but did not get delivery going, the client moves to
  // the next one; failures to connect at all (the server is down) do not count. Online
  // on a later transport for `transport_retry`, it reconnects to try the first again.
  std::vector<transport> transports{transport::websocket, transport::sse, transport::long_polling};
  int fallback_after = 2;
  std::chrono::milliseconds transport_retry{std::chrono::minutes(5)};
};

// Receipts of other members (docs/protocol.md, "Receipts"): positions by user id.
struct receipt_update {
  std::int64_t conv = 0;
  std::int64_t thread = 0;                                             // 0: the timeline
  std::vector<std::pair<std::int64_t, std::int64_t>> delivered, read;  // (user, seq)
};

// Someone started or stopped typing (docs/protocol.md, "Typing"). A start is over after
// expires_ms unless another arrives.
struct typing_update {
  std::int64_t conv = 0;
  std::int64_t user = 0;
  bool typing = false;
  std::int64_t expires_ms = 0;
};

// A contact's presence (docs/protocol.md, "Presence").
struct presence_update {
  std::int64_t user = 0;
  std::string state;           // "online", "away" or "offline"
  std::int64_t last_seen = 0;  // with offline, when known
};

struct send_ack {
  std::int64_t conv = 0;
  std::int64_t seq = 0;
  std::string id;
  std::int64_t ts = 0;
  std::string client_msg_id;
  bool duplicate = false;
};

struct send_options {
  std::int64_t reply_to = 0;  // quote this message (its seq); 0: none
  std::int64_t thread = 0;    // reply in the thread of this root message; 0: no thread
  // Uploads to attach (id and name; see parley/sdk/files.hpp to upload). With
  // attachments, the text may be empty.
  std::vector<attachment> attachments;
};

// A page of `messages` or `thread`: before or after a seq (0: unset), at most `limit`.
struct page {
  std::int64_t before = 0, after = 0;
  int limit = 50;
};

struct search_request {
  std::string query;
  std::int64_t conv = 0;  // 0: every conversation
  std::string sender;     // a handle; empty: anyone
  std::int64_t before_ms = 0, after_ms = 0;
  int limit = 20;
  std::string cursor;  // from the previous page's result
};

using reply_fn = std::function<void(result<boost::json::object>)>;

struct client_handlers {
  std::function<void(const event&)> on_event;
  std::function<void(state)> on_state;
  // The transport of a connection that just went online.
  std::function<void(transport)> on_transport;
  std::function<void(const send_ack&)> on_ack;
  // The server rejected a send for good (invalid, forbidden, not_found, too_large,
  // conflict); it left the outbox.
  std::function<void(const std::string& client_msg_id, const error&)> on_send_failed;
  // History the client asked for no longer exists on the server (pruned).
  std::function<void(std::int64_t conv, std::int64_t from_seq, std::int64_t to_seq)>
      on_history_lost;
  // A notice about the user's own state from another of their devices (or this one),
  // {"notice":"read",...} or {"notice":"follow",...}, or that someone mentioned the user,
  // {"notice":"mention",...} (docs/protocol.md, "Unread and mentions").
  std::function<void(const boost::json::object&)> on_notice;
  // Receipts, typing and presence: live, and as current state after each (re)sync.
  std::function<void(const receipt_update&)> on_receipts;
  std::function<void(const typing_update&)> on_typing;
  std::function<void(const presence_update&)> on_presence;
  // The token was rejected or revoked; the client stopped reconnecting.
  std::function<void(const error&)> on_auth_failed;
};

class client {
 public:
  client(client_options opt, client_handlers h);
  ~client();  // stop()
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  void start();
  // Closes the connection and joins the I/O thread. Unsent messages stay in the outbox.
  void stop();

  // Queues a message durably (optionally a quote or a thread reply); returns its
  // client_msg_id.
  std::string send(std::int64_t conv, const std::string& text, const send_options& o = {});
  // Rich-message operations (docs/protocol.md, "Messages"): typed forms of call(), with
  // the same failure rules; `done` gets the operation's result object.
  void edit(std::int64_t conv, std::int64_t msg, const std::string& text, reply_fn done);
  void delete_message(std::int64_t conv, std::int64_t msg, reply_fn done);
  void react(std::int64_t conv, std::int64_t msg, const std::string& emoji, bool add,
             reply_fn done);
  void follow(std::int64_t conv, std::int64_t thread, bool on, reply_fn done);
  void mark_read(std::int64_t conv, std::int64_t seq, std::int64_t thread, reply_fn done);
  void messages(std::int64_t conv, const page& p, reply_fn done);
  void thread(std::int64_t conv, std::int64_t root, const page& p, reply_fn done);
  void search(const search_request& q, reply_fn done);
  // Receipts, typing, presence and settings (docs/protocol.md).
  void typing(std::int64_t conv, bool on, reply_fn done);
  void set_away(bool away, reply_fn done);
  void receipts(std::int64_t conv, std::int64_t thread, reply_fn done);
  void presence(reply_fn done);  // the contacts' presence
  // Each setting given is changed; the result has both.
  void settings(std::optional<bool> private_receipts, std::optional<bool> invisible, reply_fn done);
  // Any other operation (docs/protocol.md); fails with errc::internal "offline" when not
  // online, or on timeout. `done` runs on the client's thread.
  void call(const std::string& op, boost::json::object args,
            std::function<void(result<boost::json::object>)> done);

  state current_state() const;
  // The transport of the current (or last) connection.
  transport current_transport() const;
  std::size_t outbox_size() const;
  // Last seq delivered and saved for conv (saved after each received batch).
  std::int64_t position(std::int64_t conv) const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace parley::sdk
