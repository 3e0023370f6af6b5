// Plain data types of Parley's domain: users, devices, conversations, members and the
// events of a conversation's log. No I/O, no behaviour; shared by core, store and server.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace parley {

using user_id = std::int64_t;
using conv_id = std::int64_t;
using device_id = std::int64_t;
using seq_t = std::int64_t;

enum class conv_kind { direct, group };
enum class role { member, admin, owner };

const char* to_string(conv_kind k);
const char* to_string(role r);
std::optional<role> parse_role(std::string_view s);

struct user {
  user_id id = 0;
  std::string handle;
};

struct credentials {
  user u;
  std::string password_hash;  // libsodium Argon2id string
};

// One login. The token itself is never stored; only its hash.
struct device_session {
  device_id device = 0;
  user u;
  std::int64_t expires_ms = 0;
  // Authenticated with a signed token from the external auth service (core/jwt.hpp), not
  // a Parley token: logout, token.refresh and password are refused.
  bool signed_token = false;
};

struct conversation {
  conv_id id = 0;
  conv_kind kind = conv_kind::group;
  std::string title;
  seq_t last_seq = 0;   // seq of the newest event
  seq_t first_seq = 1;  // oldest seq still stored (history before it was pruned)
  std::int64_t created_ms = 0;
};

struct membership {
  conv_id conv = 0;
  user u;
  enum role role = role::member;
  seq_t joined_seq = 0;           // seq of the event that made the user a member
  std::optional<seq_t> left_seq;  // seq of member.left; unset while a member
  bool active() const { return !left_seq.has_value(); }
};

// One entry of a conversation's log. `data` is the event-type specific JSON object,
// already serialized; `id` is globally unique; `seq` is gapless per conversation.
struct event {
  conv_id conv = 0;
  seq_t seq = 0;
  std::string id;
  std::int64_t ts_ms = 0;
  std::string type;
  user_id sender = 0;
  std::string client_msg_id;  // empty unless the event was created by an idempotent send
  std::string data;           // JSON object text
};

// What an idempotent send left behind: enough to repeat its acknowledgement, forever.
struct send_key {
  conv_id conv = 0;
  seq_t seq = 0;
  std::string event_id;
  std::int64_t ts_ms = 0;
};

// The current state of a message: its message.created event with every later edit,
// delete and thread reply applied (kept beside the log for the message views and search;
// the log stays the truth and is what clients sync).
struct message_state {
  conv_id conv = 0;
  seq_t seq = 0;  // the seq of its message.created event: the message's id in the conversation
  user_id sender = 0;
  std::int64_t created_ms = 0;
  std::string text;               // empty once deleted
  std::optional<seq_t> reply_to;  // the quoted message, same conversation
  std::optional<seq_t> thread;    // the root of the thread this message replies in
  std::vector<user_id> mentions;  // users it mentions (members when it was sent)
  std::optional<std::int64_t> edited_ms;
  std::optional<std::int64_t> deleted_ms;
  std::int64_t reply_count = 0;  // thread roots: replies not deleted
  std::optional<std::int64_t> last_reply_ms;
  bool deleted() const { return deleted_ms.has_value(); }
};

// One emoji's reactions on one message: how many, and (some of) who, oldest first.
struct reaction_count {
  seq_t msg = 0;
  std::string emoji;
  std::int64_t count = 0;
  std::vector<user_id> users;  // at most the limit the query was given
};

// An earlier version of a message: the text an edit replaced.
struct message_edit {
  seq_t edit_seq = 0;  // the seq of the message.edited event that replaced it
  std::string text;
  std::int64_t since_ms = 0;  // when this version was written (created or edited)
};

// A thread a user follows.
struct followed_thread {
  conv_id conv = 0;
  seq_t root = 0;
};

// A full-text search over the messages one user can see (the store enforces that).
struct search_query {
  std::string match;   // an FTS5 query, built by the service from the user's words
  conv_id conv = 0;    // 0: every conversation of the user
  user_id sender = 0;  // 0: anyone
  std::int64_t before_ms = 0, after_ms = 0;   // sent strictly before / after; 0: unbounded
  std::int64_t cursor_ts = 0, cursor_id = 0;  // older than this hit (a page's last); 0: newest
  std::size_t limit = 20;
};

// One message found, newest first.
struct search_hit {
  conv_id conv = 0;
  seq_t seq = 0;
  user_id sender = 0;
  std::int64_t ts_ms = 0;
  std::optional<seq_t> thread;
  std::string snippet;      // text around the matches; each match between \x01 and \x02
  std::int64_t row_id = 0;  // with ts_ms, the cursor of the next page
};

// Uploaded content, addressed by its SHA-256: what the server learned from the bytes.
struct upload_info {
  std::string id;  // SHA-256 of the content, 64 lowercase hex characters
  std::int64_t size = 0;
  std::string type;                    // sniffed from the bytes, never taken from the client
  std::int32_t width = 0, height = 0;  // images whose header tells; 0 otherwise
};

// An upload as a message carries it: the content plus the name the sender gave it.
struct attachment {
  upload_info upload;
  std::string name;
};

// One member's receipts in a conversation (or a thread: then delivered is 0).
struct receipt {
  user_id user = 0;
  seq_t delivered = 0;        // the user's devices have received the log up to here
  seq_t read = 0;             // the user has read up to here
  bool private_read = false;  // the user keeps read receipts to themselves
};

// A user's presence and receipt preferences, and when they were last seen.
struct user_prefs {
  bool private_receipts = false;  // others do not see the user's read positions
  bool invisible = false;         // others see the user offline
  std::int64_t last_seen_ms = 0;  // when the user's last device went away; 0: never
};

// An event after commit, ready for fan-out: encoded once, shared by every recipient.
struct committed_event {
  event ev;
  std::shared_ptr<const std::string> frame;  // the push frame bytes, {"ev":{...}}
  std::vector<user_id> recipients;           // users whose devices receive it live
};
using committed_event_ptr = std::shared_ptr<const committed_event>;

}  // namespace parley
