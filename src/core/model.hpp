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

// An event after commit, ready for fan-out: encoded once, shared by every recipient.
struct committed_event {
  event ev;
  std::shared_ptr<const std::string> frame;  // the push frame bytes, {"ev":{...}}
  std::vector<user_id> recipients;           // users whose devices receive it live
};
using committed_event_ptr = std::shared_ptr<const committed_event>;

}  // namespace parley
